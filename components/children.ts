// Child resources a component shows to TypeScript programs only (`endpoint.deployment`, `pool.nodeGroup`…).
//
// Why getters and not `public readonly` properties: Pulumi's component analysis (provider/, which gives these
// components to Python/Go/YAML programs) makes every class property a schema output. A resource-typed output
// makes the schema depend on that resource's package: SDK generation then needs that provider plugin (aws,
// kubernetes, docker-build) at the exact version, and the generated SDK depends on its language SDK
// (pulumi_aws, pulumi_kubernetes…); a CustomResource (the KEDA ScaledObject) has no type token at all and is
// refused. Getters are not properties to the analysis, so the schema carries only the plain outputs (names,
// URLs, digests) and the TypeScript API stays as it was. The values live in a WeakMap keyed by the component.
const store = new WeakMap<object, Map<PropertyKey, unknown>>();

/** Records a child resource of `owner` under `key` (read back by the getter of that name) and returns it. */
export function setChild<O extends object, K extends keyof O>(owner: O, key: K, value: O[K]): O[K] {
    let m = store.get(owner);
    if (!m) {
        m = new Map();
        store.set(owner, m);
    }
    m.set(key, value);
    return value;
}

/** The child resource recorded under `key` (undefined when the component did not create it). */
export function getChild<O extends object, K extends keyof O>(owner: O, key: K): O[K] {
    return store.get(owner)?.get(key) as O[K];
}
