// Keda: installs KEDA (CRDs, operator, metrics API server, admission webhooks) at a pinned version, from
// rendered manifests on local disk (default) or a Helm chart (local path or repository). Every image is
// overridable so air-gapped clusters work.
//
// Why local manifests are the default: a chart from a repository is fetched during `pulumi preview`, and the
// rule is that a preview needs no network beyond what providers do. KEDA's own release manifest
// (`keda-<version>.yaml`) or `scripts/render-keda.sh` (kustomize build of the `config/` that ships in KEDA's
// Go module, from the Go module proxy) give the file; the component reads and parses it locally, rewrites the
// images, and registers each object with `k8s.yaml.ConfigGroup`.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as yaml from "js-yaml";
import { Validator, nonEmptyString, oneOf, ImagePullPolicy, IMAGE_PULL_POLICIES } from "./validate";
import { parseImageRef, pinnedImage } from "./imageRef";
import { findForeignKeda, foreignKedaMessage } from "./kedaPreflight";

export const DEFAULT_KEDA_VERSION = "2.17.2";
export const KEDA_NAMESPACE = "keda";

export interface KedaImages {
    /** Operator image. Default ghcr.io/kedacore/keda:<version>. */
    operator?: string;
    /** Metrics API server image. Default ghcr.io/kedacore/keda-metrics-apiserver:<version>. */
    metricsApiServer?: string;
    /** Admission webhooks image. Default ghcr.io/kedacore/keda-admission-webhooks:<version>. */
    webhooks?: string;
}

/** A KEDA Helm chart: a local chart (`path`) or a chart repository (`repo`), exactly one. */
export interface KedaChart {
    /** Local chart directory or .tgz (no network). */
    path?: string;
    /** Or a chart repository URL (fetched during preview). */
    repo?: string;
    /** Chart name in the repository. Default "keda". */
    name?: string;
    /**
     * Helm values merged under the image overrides: a free-form object (nested maps, lists, strings,
     * numbers, booleans), as in KEDA's values.yaml.
     */
    values?: { [key: string]: pulumi.Input<any> };
}

/**
 * Where KEDA comes from: exactly one of `manifests` (rendered YAML on local disk) or `chart` (Helm chart).
 *
 * One interface with optional fields rather than a union of two: Pulumi's component analysis, which gives
 * these components to Python/Go/YAML programs, supports no object unions. The constructor refuses both or none.
 */
export interface KedaSource {
    /** A YAML file, or a directory whose *.yaml / *.yml files are read in name order. */
    manifests?: string;
    /** A Helm chart (local path or repository). */
    chart?: KedaChart;
}

export interface KedaArgs {
    /** KEDA version (used for default image tags, the default manifest path and the chart version). Default 2.17.2. */
    version?: string;
    /**
     * Where KEDA comes from: `{ manifests }` or `{ chart }`. Default: `{ manifests: $LONGSHORE_KEDA_MANIFESTS }`
     * or `$LONGSHORE_CACHE/keda-v<version>/keda.yaml` (written by scripts/render-keda.sh or the proving ground),
     * or the npm package's bundled upstream manifests of the default version.
     */
    source?: KedaSource;
    /** Image overrides (mirrors, air-gapped registries). */
    images?: KedaImages;
    /** Install the admission webhooks (default true). */
    webhooks?: boolean;
    /** imagePullPolicy for every KEDA container. Default IfNotPresent (KEDA's manifests say Always). */
    imagePullPolicy?: ImagePullPolicy;
    /**
     * Before installing, check (with kubectl) that no KEDA installed by someone else is in the cluster, and stop
     * with a message that says what to do if one is (instead of Server-Side Apply field conflicts half-way
     * through). Default true; skipped where kubectl or the cluster cannot answer, and under Pulumi's mocks.
     */
    preflight?: boolean;
    /** The kubeconfig context the preflight asks (the one the Kubernetes provider uses). Default: current. */
    kubeContext?: string;
}

/** Where the npm package ships KEDA's upstream manifests for DEFAULT_KEDA_VERSION (scripts/build-package.js). */
export const BUNDLED_KEDA_MANIFESTS_DIR = path.join(__dirname, "../manifests");

/**
 * The manifest path used when no source is given: $LONGSHORE_KEDA_MANIFESTS; else the rendered file in the
 * cache if it exists; else the package's bundled copy of that version if it has one; else the cache path
 * (whose absence the component reports with the fix).
 */
export function defaultKedaManifestPath(version: string = DEFAULT_KEDA_VERSION, bundledDir: string = BUNDLED_KEDA_MANIFESTS_DIR): string {
    if (process.env.LONGSHORE_KEDA_MANIFESTS) return process.env.LONGSHORE_KEDA_MANIFESTS;
    const cache = process.env.LONGSHORE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "longshore");
    const rendered = path.join(cache, `keda-v${version}`, "keda.yaml");
    const bundled = path.join(bundledDir, `keda-v${version}.yaml`);
    return !fs.existsSync(rendered) && fs.existsSync(bundled) ? bundled : rendered;
}

/** Reads every YAML document from a file or a directory (sorted by name). */
export function readManifests(p: string): any[] {
    const stat = fs.statSync(p);
    const files = stat.isDirectory()
        ? fs.readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(p, f))
        : [p];
    const docs: any[] = [];
    for (const f of files) {
        for (const d of yaml.loadAll(fs.readFileSync(f, "utf8"))) {
            if (d && typeof d === "object") {
                if ((d as any).kind === "List" && Array.isArray((d as any).items)) docs.push(...(d as any).items);
                else docs.push(d);
            }
        }
    }
    return docs;
}

type ImageRole = "operator" | "metricsApiServer" | "webhooks";

/** Which KEDA image a container runs, from its image repository name. */
export function kedaImageRole(image: string): ImageRole | undefined {
    const repo = image.split("@")[0].replace(/:[^/:]*$/, "");
    const last = repo.split("/").pop();
    if (last === "keda") return "operator";
    if (last === "keda-metrics-apiserver") return "metricsApiServer";
    if (last === "keda-admission-webhooks") return "webhooks";
    return undefined;
}

const WEBHOOK_OBJECTS = new Set(["Deployment/keda-admission", "Service/keda-admission-webhooks", "ValidatingWebhookConfiguration/keda-admission"]);

/**
 * KEDA (CRDs, operator, metrics API server, admission webhooks) at a pinned version, from rendered manifests on
 * local disk (default) or a Helm chart; every image overridable.
 */
export class Keda extends pulumi.ComponentResource {
    /** Namespace KEDA runs in (keda). */
    public readonly namespace: pulumi.Output<string>;
    /** The KEDA version installed. */
    public readonly version: pulumi.Output<string>;
    /** The images deployed (after overrides). */
    public readonly images: pulumi.Output<Required<KedaImages>>;
    /** Number of Kubernetes objects installed (manifest source). */
    public readonly objectCount: pulumi.Output<number>;

    constructor(name: string, args: KedaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("longshore:index:Keda", name, {}, opts);
        const v = new Validator("Keda", name);
        const version = args.version ?? DEFAULT_KEDA_VERSION;
        if (!/^\d+\.\d+\.\d+$/.test(version)) v.fail("version", `(${JSON.stringify(version)}) must be a KEDA release version such as ${DEFAULT_KEDA_VERSION}`);
        const pullPolicy = args.imagePullPolicy ?? ImagePullPolicy.IfNotPresent;
        const badPolicy = oneOf(IMAGE_PULL_POLICIES)(pullPolicy);
        if (badPolicy) v.fail("imagePullPolicy", `(${JSON.stringify(pullPolicy)}) ${badPolicy}`);
        // Images: an override replaces the image of its role; without one, a manifest image that is not pinned
        // (KEDA's kustomize config says `:main`/`:latest`) becomes ghcr.io/kedacore/<image>:<version>, and a pinned
        // one (a release manifest, or a mirror rendered with digests) is kept as it is.
        const defaults: Required<KedaImages> = {
            operator: `ghcr.io/kedacore/keda:${version}`,
            metricsApiServer: `ghcr.io/kedacore/keda-metrics-apiserver:${version}`,
            webhooks: `ghcr.io/kedacore/keda-admission-webhooks:${version}`,
        };
        const overrides: KedaImages = args.images ?? {};
        for (const [k, img] of Object.entries(overrides)) {
            if (img === undefined) continue;
            const broken = pinnedImage(img);
            if (broken) v.fail(`images.${k}`, `(${JSON.stringify(img)}) ${broken}`);
        }
        const images: Required<KedaImages> = { ...defaults, ...overrides } as Required<KedaImages>;
        const webhooks = args.webhooks ?? true;
        if ((args.preflight ?? true) && !underMocks()) {
            const foreign = findForeignKeda(args.kubeContext);
            if (foreign) throw new pulumi.RunError(foreignKedaMessage(name, foreign, args.kubeContext));
        }
        const source: KedaSource = args.source ?? { manifests: defaultKedaManifestPath(version) };
        const hasManifests = source.manifests !== undefined && source.manifests !== null;
        const hasChart = source.chart !== undefined && source.chart !== null;
        if (hasManifests === hasChart) {
            v.fail("source", `needs exactly one of source.manifests (rendered YAML on local disk) or source.chart (Helm chart), ${hasChart ? "not both" : "got neither"}`);
        }
        let count = 0;
        const deployed: KedaImages = { ...images };

        if (hasManifests) {
            const p = source.manifests as string;
            const broken = nonEmptyString(p);
            if (broken) v.fail("source.manifests", broken);
            if (!fs.existsSync(p)) {
                v.fail("source.manifests", `(${JSON.stringify(p)}) does not exist: run \`scripts/render-keda.sh ${version}\`, download KEDA's keda-${version}.yaml, or give source.chart`);
            }
            let docs: any[] = [];
            try {
                docs = readManifests(p);
            } catch (e) {
                v.fail("source.manifests", `(${JSON.stringify(p)}) could not be read as Kubernetes YAML: ${(e as Error).message}`);
            }
            if (!docs.some((d) => d.kind === "CustomResourceDefinition" && d.metadata?.name === "scaledobjects.keda.sh")) {
                v.fail("source.manifests", `(${JSON.stringify(p)}) does not contain KEDA (no scaledobjects.keda.sh CustomResourceDefinition)`);
            }
            const objs = docs
                .filter((d) => webhooks || !WEBHOOK_OBJECTS.has(`${d.kind}/${d.metadata?.name}`))
                .map((d) => rewriteImages(d, overrides, defaults, pullPolicy));
            count = objs.length;
            for (const o of objs) {
                for (const c of o.kind === "Deployment" ? o.spec?.template?.spec?.containers ?? [] : []) {
                    const role = typeof c.image === "string" ? kedaImageRole(c.image) : undefined;
                    if (role) deployed[role] = c.image;
                }
            }
            // Namespace and CRDs first, then everything that lives in them / needs them.
            const isFoundation = (o: any) => o.kind === "Namespace" || o.kind === "CustomResourceDefinition";
            const foundation = new k8s.yaml.ConfigGroup(`${name}-crds`, { objs: objs.filter(isFoundation) }, { parent: this });
            new k8s.yaml.ConfigGroup(`${name}`, { objs: objs.filter((o) => !isFoundation(o)) }, { parent: this, dependsOn: [foundation] });
        } else {
            const c: KedaChart = source.chart as KedaChart;
            if ((c.path == null) === (c.repo == null)) v.fail("source.chart", "needs exactly one of path (local chart) or repo (chart repository URL)");
            const values = pulumi.output(c.values ?? {}).apply((vals) => deepMerge(vals, {
                image: {
                    keda: chartImage(images.operator),
                    metricsApiServer: chartImage(images.metricsApiServer),
                    webhooks: chartImage(images.webhooks),
                    pullPolicy,
                },
                webhooks: { enabled: webhooks },
            }));
            new k8s.helm.v4.Chart(`${name}`, {
                chart: c.path ?? c.name ?? "keda",
                version: c.path ? undefined : version,
                repositoryOpts: c.repo ? { repo: c.repo } : undefined,
                namespace: KEDA_NAMESPACE,
                values,
            }, { parent: this });
        }

        this.namespace = pulumi.output(KEDA_NAMESPACE);
        this.version = pulumi.output(version);
        this.images = pulumi.output(deployed as Required<KedaImages>);
        this.objectCount = pulumi.output(count);
        this.registerOutputs({ namespace: this.namespace, version: this.version, images: this.images });
    }
}

/** True under `pulumi.runtime.setMocks` (unit tests): no cluster to ask. */
function underMocks(): boolean {
    return pulumi.runtime.getMonitor()?.constructor?.name === "MockMonitor";
}

function rewriteImages(obj: any, overrides: KedaImages, defaults: Required<KedaImages>, pullPolicy: string): any {
    const o = JSON.parse(JSON.stringify(obj));
    const podSpec = o.kind === "Deployment" ? o.spec?.template?.spec : undefined;
    if (podSpec) {
        for (const c of [...(podSpec.containers ?? []), ...(podSpec.initContainers ?? [])]) {
            const role = typeof c.image === "string" ? kedaImageRole(c.image) : undefined;
            if (role) {
                if (overrides[role] !== undefined) c.image = overrides[role];
                else if (pinnedImage(c.image) !== undefined || /:main$/.test(c.image)) c.image = defaults[role];
            }
            c.imagePullPolicy = pullPolicy;
        }
    }
    return o;
}

function chartImage(ref: string): { registry: string; repository: string; tag: string } {
    const p = parseImageRef(ref);
    return { registry: p.registry, repository: p.repository, tag: p.digest ? `${p.tag ?? ""}@${p.digest}`.replace(/^@/, "") : (p.tag as string) };
}

function deepMerge(a: any, b: any): any {
    if (!a || typeof a !== "object" || Array.isArray(a)) return b;
    const out: any = { ...a };
    for (const [k, val] of Object.entries(b)) {
        out[k] = val && typeof val === "object" && !Array.isArray(val) ? deepMerge(a[k], val) : val;
    }
    return out;
}
