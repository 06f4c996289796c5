// Shared argument validation for every Longshore component.
//
// Contract: every invalid argument fails at `pulumi preview` with a message that names the component, the
// argument and the rule, e.g. `ServerlessEndpoint "x": maxWorkers (1) must be >= minWorkers (2)`.
//
// Arguments are `pulumi.Input`s, so a value can be plain, a Promise or an Output:
// - plain values are checked synchronously in the constructor (the error is thrown before any child resource
//   is registered);
// - Promise/Output values are checked inside `.apply`, and the checked Output is what flows into the child
//   resources' inputs, so the error fails the resource registration (preview or up) with the same message.
//   Unknown values during preview cannot be checked; they are checked again when known (during `up`).
import * as pulumi from "@pulumi/pulumi";

/** The error every Longshore validation failure throws. A RunError prints without a stack trace. */
export class LongshoreValidationError extends pulumi.RunError {
    constructor(
        public readonly component: string,
        public readonly resourceName: string,
        public readonly argument: string,
        public readonly rule: string,
    ) {
        super(`${component} "${resourceName}": ${argument} ${rule}`);
        this.name = "LongshoreValidationError";
    }
}

/** A rule returns undefined when the value is fine, or the text of the rule that was broken. */
export type Rule<T> = (value: T) => string | undefined;

/** True when the Input is a plain value (not an Output and not a Promise). */
export function isPlain<T>(value: pulumi.Input<T> | undefined): value is T {
    if (value === undefined || value === null) return true;
    if (pulumi.Output.isInstance(value)) return false;
    if (typeof (value as any)?.then === "function") return false;
    return true;
}

/** Deep plain check: arrays/objects whose members are all plain. */
export function isDeepPlain(value: unknown): boolean {
    if (!isPlain(value as any)) return false;
    if (Array.isArray(value)) return value.every(isDeepPlain);
    if (value && typeof value === "object") return Object.values(value as object).every(isDeepPlain);
    return true;
}

function show(v: unknown): string {
    if (typeof v === "string") return JSON.stringify(v);
    try {
        return JSON.stringify(v) ?? String(v);
    } catch {
        return String(v);
    }
}

/** Validation context for one component instance. */
export class Validator {
    constructor(public readonly component: string, public readonly name: string) {}

    fail(argument: string, rule: string): never {
        throw new LongshoreValidationError(this.component, this.name, argument, rule);
    }

    /**
     * Checks `value` against `rules` (plain: now; Output/Promise: when known) and returns it as an Output.
     * `undefined` values are replaced by `dflt` (if given) before the check.
     */
    check<T>(argument: string, value: pulumi.Input<T> | undefined, rules: Rule<T>[], dflt?: T, opts: { sensitive?: boolean } = {}): pulumi.Output<T> {
        const run = (v: T): T => {
            for (const rule of rules) {
                const broken = rule(v);
                // Sensitive values (keys, tokens, URLs with passwords) are never echoed in the message.
                if (broken !== undefined) this.fail(argument, opts.sensitive ? broken : `(${show(v)}) ${broken}`);
            }
            return v;
        };
        const withDefault = (v: T | undefined): T => (v === undefined || v === null ? (dflt as T) : v);
        // Arrays/objects of Inputs are plain only when every member is (pulumi.output unwraps them deeply).
        if (isDeepPlain(value)) {
            return pulumi.output(run(withDefault(value as T | undefined))) as unknown as pulumi.Output<T>;
        }
        return pulumi.output(value as pulumi.Input<T>).apply((v) => run(withDefault(v as T | undefined))) as pulumi.Output<T>;
    }

    /** Checks a relation between several values (plain now, else when all are known). */
    relate<A extends unknown[]>(values: { [K in keyof A]: pulumi.Input<A[K]> | undefined }, rule: (...v: A) => [string, string] | undefined): pulumi.Output<A> {
        const run = (vs: A): A => {
            const broken = rule(...vs);
            if (broken) this.fail(broken[0], broken[1]);
            return vs;
        };
        if ((values as unknown[]).every((v) => isPlain(v as any))) {
            return pulumi.output(run(values as unknown as A) as any) as unknown as pulumi.Output<A>;
        }
        return (pulumi.all(values as any) as pulumi.Output<any>).apply((vs: any) => run(vs as A)) as pulumi.Output<A>;
    }
}

// ---------- shared argument vocabulary ----------

/** Kubernetes imagePullPolicy of a container. */
export const ImagePullPolicy = {
    /** Pull on every container start. */
    Always: "Always",
    /** Pull only when the node does not have the image yet. */
    IfNotPresent: "IfNotPresent",
    /** Never pull (the image must already be on the node). */
    Never: "Never",
} as const;
// A const object plus a type of its values (not a TS `enum`): plain strings stay assignable, and Pulumi's
// component analysis turns it into a schema enum for other languages.
export type ImagePullPolicy = (typeof ImagePullPolicy)[keyof typeof ImagePullPolicy];
export const IMAGE_PULL_POLICIES: readonly ImagePullPolicy[] = Object.values(ImagePullPolicy);

// ---------- rules ----------

export const nonEmptyString: Rule<unknown> = (v) =>
    typeof v !== "string" || v.trim() === "" ? "must be a non-empty string" : undefined;

export const integer: Rule<unknown> = (v) => (typeof v !== "number" || !Number.isInteger(v) ? "must be an integer" : undefined);

export const positiveInteger: Rule<unknown> = (v) =>
    typeof v !== "number" || !Number.isInteger(v) || v < 1 ? "must be a positive integer" : undefined;

export const nonNegativeInteger: Rule<unknown> = (v) =>
    typeof v !== "number" || !Number.isInteger(v) || v < 0 ? "must be a non-negative integer (>= 0)" : undefined;

export const nonNegativeNumber: Rule<unknown> = (v) =>
    typeof v !== "number" || !Number.isFinite(v) || v < 0 ? "must be a non-negative number (>= 0)" : undefined;

export function atMost(max: number): Rule<number> {
    return (v) => (typeof v === "number" && v > max ? `must be <= ${max}` : undefined);
}

export function atLeast(min: number): Rule<number> {
    return (v) => (typeof v === "number" && v < min ? `must be >= ${min}` : undefined);
}

export function oneOf<T extends string>(allowed: readonly T[]): Rule<unknown> {
    return (v) => (typeof v !== "string" || !(allowed as readonly string[]).includes(v) ? `must be one of ${allowed.join(", ")}` : undefined);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A Kubernetes DNS-1123 label (names of namespaces, services, ...). */
export function dnsLabel(maxLen = 63): Rule<unknown> {
    return (v) =>
        typeof v !== "string" || v.length > maxLen || !DNS_LABEL.test(v)
            ? `must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${maxLen} characters)`
            : undefined;
}

/** Kubernetes label value: <= 63 chars, alphanumerics plus -_. , starting and ending alphanumeric. */
export const labelValue: Rule<unknown> = (v) =>
    typeof v !== "string" || v.length > 63 || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v)
        ? "must be a valid Kubernetes label value (at most 63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
        : undefined;

/** Environment variable name as Kubernetes accepts it (C identifier is the portable subset). */
export const envName: Rule<unknown> = (v) =>
    typeof v !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v) ? "must be a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)" : undefined;

/** Kubernetes resource quantity (e.g. "500m", "2", "16Gi", "1.5G"). */
export const quantity: Rule<unknown> = (v) =>
    (typeof v !== "string" && typeof v !== "number") ||
    !/^([+]?[0-9.]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/.test(String(v)) ||
    !/[0-9]/.test(String(v))
        ? "must be a Kubernetes quantity such as \"500m\", \"2\" or \"20Gi\""
        : undefined;

export const httpUrl: Rule<unknown> = (v) => {
    if (typeof v !== "string") return "must be an http(s) URL";
    try {
        const u = new URL(v);
        if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an http(s) URL";
        if (v.endsWith("/")) return "must not end with '/'";
    } catch {
        return "must be an http(s) URL";
    }
    return undefined;
};

export const redisUrl: Rule<unknown> = (v) => {
    if (typeof v !== "string") return "must be a redis:// or rediss:// URL";
    try {
        const u = new URL(v);
        if (u.protocol !== "redis:" && u.protocol !== "rediss:") return "must be a redis:// or rediss:// URL";
    } catch {
        return "must be a redis:// or rediss:// URL";
    }
    return undefined;
};

/** host:port */
export const hostPort: Rule<unknown> = (v) =>
    typeof v !== "string" || !/^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(v) ? "must be host:port" : undefined;

export function nonEmptyArray(what = "entry"): Rule<unknown> {
    return (v) => (!Array.isArray(v) || v.length === 0 ? `must contain at least one ${what}` : undefined);
}

export function uniqueArray(): Rule<unknown> {
    return (v) => (Array.isArray(v) && new Set(v).size !== v.length ? "must not contain duplicates" : undefined);
}

/** Applies `rule` to every element of an array, naming the index. */
export function each(rule: Rule<unknown>): Rule<unknown> {
    return (v) => {
        if (!Array.isArray(v)) return "must be a list";
        for (let i = 0; i < v.length; i++) {
            const broken = rule(v[i]);
            if (broken) return `entry [${i}] (${show(v[i])}) ${broken}`;
        }
        return undefined;
    };
}
