import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { mockPulumi, settle, valueOf, thrown, Recorder } from "./harness";
import { Keda, kedaImageRole, readManifests, defaultKedaManifestPath } from "../../components";

// A cut-down manifest with the shape of KEDA's release YAML (CRD, namespace, three Deployments, webhook config).
const MANIFEST = `
apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: scaledobjects.keda.sh}
spec: {group: keda.sh, names: {kind: ScaledObject, plural: scaledobjects}, scope: Namespaced, versions: []}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keda-operator, namespace: keda}
spec:
  template:
    spec:
      containers:
      - {name: keda-operator, image: "ghcr.io/kedacore/keda:main", imagePullPolicy: Always}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec:
  template:
    spec:
      containers:
      - {name: keda-metrics-apiserver, image: "ghcr.io/kedacore/keda-metrics-apiserver:main", imagePullPolicy: Always}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keda-admission, namespace: keda}
spec:
  template:
    spec:
      containers:
      - {name: keda-admission-webhooks, image: "ghcr.io/kedacore/keda-admission-webhooks:main"}
---
apiVersion: v1
kind: Service
metadata: {name: keda-admission-webhooks, namespace: keda}
spec: {ports: [{port: 443}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: keda-admission}
webhooks: []
`;

describe("Keda", () => {
    let rec: Recorder;
    let dir: string;
    let file: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-keda-"));
        file = path.join(dir, "keda.yaml");
        fs.writeFileSync(file, MANIFEST);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    beforeEach(async () => {
        rec = await mockPulumi();
    });

    const deployments = () => Object.fromEntries(rec.byType("kubernetes:apps/v1:Deployment").map((d) => [d.inputs.metadata.name, d.inputs.spec.template.spec.containers[0]]));

    it("installs every object from a local manifest file, images pinned to the version, IfNotPresent", async () => {
        const k = new Keda("keda", { source: { manifests: file } });
        await settle(rec);
        assert.strictEqual(rec.one("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition").inputs.metadata.name, "scaledobjects.keda.sh");
        assert.strictEqual(rec.byType("kubernetes:core/v1:Namespace").length, 1);
        const d = deployments();
        assert.strictEqual(d["keda-operator"].image, "ghcr.io/kedacore/keda:2.17.2");
        assert.strictEqual(d["keda-metrics-apiserver"].image, "ghcr.io/kedacore/keda-metrics-apiserver:2.17.2");
        assert.strictEqual(d["keda-admission"].image, "ghcr.io/kedacore/keda-admission-webhooks:2.17.2");
        for (const c of Object.values(d)) assert.strictEqual((c as any).imagePullPolicy, "IfNotPresent");
        assert.strictEqual(await valueOf(k.objectCount), 7);
        // CRDs and the namespace are a group of their own that the rest depends on
        assert.deepStrictEqual(rec.byType("kubernetes:yaml:ConfigGroup").map((g) => g.name).sort(), ["keda", "keda-crds"]);
        assert.strictEqual(await valueOf(k.version), "2.17.2");
    });

    it("every image is overridable (air-gapped mirror); webhooks can be left out; a directory works", async () => {
        new Keda("keda", {
            source: { manifests: dir },
            version: "2.17.1",
            images: {
                operator: "localhost:5000/longshore/keda:2.17.2",
                metricsApiServer: "localhost:5000/longshore/keda-metrics-apiserver:2.17.2",
            },
            webhooks: false,
        });
        await settle(rec);
        const d = deployments();
        assert.strictEqual(d["keda-operator"].image, "localhost:5000/longshore/keda:2.17.2");
        assert.strictEqual(d["keda-metrics-apiserver"].image, "localhost:5000/longshore/keda-metrics-apiserver:2.17.2");
        assert.strictEqual(d["keda-admission"], undefined);
        assert.strictEqual(rec.byType("kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration").length, 0);
    });

    it("images already pinned in the manifest (release YAML, local mirror by digest) are kept", async () => {
        const pinned = path.join(dir, "pinned.yaml.txt");
        const op = "localhost:5000/longshore/keda@sha256:" + "c".repeat(64);
        fs.writeFileSync(pinned, MANIFEST.replace("ghcr.io/kedacore/keda:main", op).replace("ghcr.io/kedacore/keda-metrics-apiserver:main", "ghcr.io/kedacore/keda-metrics-apiserver:2.17.2"));
        const k = new Keda("keda", { source: { manifests: pinned } });
        await settle(rec);
        const d = deployments();
        assert.strictEqual(d["keda-operator"].image, op);
        assert.strictEqual(d["keda-metrics-apiserver"].image, "ghcr.io/kedacore/keda-metrics-apiserver:2.17.2");
        assert.strictEqual(d["keda-admission"].image, "ghcr.io/kedacore/keda-admission-webhooks:2.17.2", "the unpinned :main image gets the version");
        assert.strictEqual((await valueOf(k.images)).operator, op);
    });

    it("chart source: a local chart with image overrides in the values", async () => {
        new Keda("keda", { source: { chart: { path: "/charts/keda" } }, images: { operator: "mirror.local/kedacore/keda:2.17.2" } });
        await settle(rec);
        const chart = rec.one("kubernetes:helm.sh/v4:Chart").inputs;
        assert.strictEqual(chart.chart, "/charts/keda");
        assert.strictEqual(chart.namespace, "keda");
        assert.deepStrictEqual(chart.values.image.keda, { registry: "mirror.local", repository: "kedacore/keda", tag: "2.17.2" });
        assert.strictEqual(chart.values.image.metricsApiServer.tag, "2.17.2");
        assert.strictEqual(chart.values.image.pullPolicy, "IfNotPresent");
    });

    it("default source is the rendered manifest in the cache (no network at preview)", () => {
        const saved = { ...process.env };
        try {
            delete process.env.LONGSHORE_KEDA_MANIFESTS;
            process.env.LONGSHORE_CACHE = "/tmp/lscache";
            assert.strictEqual(defaultKedaManifestPath("2.17.2"), "/tmp/lscache/keda-v2.17.2/keda.yaml");
            // the npm package's bundled copy of a version, where the cache has none ...
            const bundled = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-bundled-"));
            fs.writeFileSync(path.join(bundled, "keda-v2.17.2.yaml"), MANIFEST);
            assert.strictEqual(defaultKedaManifestPath("2.17.2", bundled), path.join(bundled, "keda-v2.17.2.yaml"));
            assert.strictEqual(defaultKedaManifestPath("2.16.0", bundled), "/tmp/lscache/keda-v2.16.0/keda.yaml", "no bundled copy of that version");
            // ... and a rendered file in the cache comes first
            process.env.LONGSHORE_CACHE = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-cache-"));
            fs.mkdirSync(path.join(process.env.LONGSHORE_CACHE, "keda-v2.17.2"));
            fs.writeFileSync(path.join(process.env.LONGSHORE_CACHE, "keda-v2.17.2/keda.yaml"), MANIFEST);
            assert.strictEqual(defaultKedaManifestPath("2.17.2", bundled), path.join(process.env.LONGSHORE_CACHE, "keda-v2.17.2/keda.yaml"));
            fs.rmSync(bundled, { recursive: true });
            fs.rmSync(process.env.LONGSHORE_CACHE, { recursive: true });
            process.env.LONGSHORE_KEDA_MANIFESTS = file;
            assert.strictEqual(defaultKedaManifestPath(), file);
        } finally {
            process.env = saved;
        }
    });

    it("helpers: image roles and multi-document parsing", () => {
        assert.strictEqual(kedaImageRole("ghcr.io/kedacore/keda:2.17.2"), "operator");
        assert.strictEqual(kedaImageRole("localhost:5000/x/keda-metrics-apiserver@sha256:" + "a".repeat(64)), "metricsApiServer");
        assert.strictEqual(kedaImageRole("busybox:1.36"), undefined);
        assert.strictEqual(readManifests(file).length, 7);
    });

    describe("validation", () => {
        it("missing manifest path names the fix", () => {
            assert.match(thrown(() => new Keda("bad", { source: { manifests: path.join(dir, "nope.yaml") } })),
                /^Keda "bad": source\.manifests \(".*nope.yaml"\) does not exist: run `scripts\/render-keda.sh 2.17.2`/);
        });
        it("a manifest without KEDA's CRD is refused", () => {
            const other = path.join(dir, "other.yml.txt");
            fs.writeFileSync(other, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
            assert.match(thrown(() => new Keda("bad", { source: { manifests: other } })), /does not contain KEDA/);
        });
        it("unparsable YAML is refused", () => {
            const bad = path.join(dir, "bad.yaml.txt");
            fs.writeFileSync(bad, "a: [unclosed\n");
            assert.match(thrown(() => new Keda("bad", { source: { manifests: bad } })), /could not be read as Kubernetes YAML/);
        });
        it("latest image, bad version, bad pull policy, chart without location", () => {
            assert.match(thrown(() => new Keda("bad", { source: { manifests: file }, images: { operator: "ghcr.io/kedacore/keda:latest" } })), /images\.operator \(".*"\) must not use the mutable `latest` tag/);
            assert.match(thrown(() => new Keda("bad", { source: { manifests: file }, version: "v2" })), /version \("v2"\) must be a KEDA release version/);
            assert.match(thrown(() => new Keda("bad", { source: { manifests: file }, imagePullPolicy: "Sometimes" as any })), /imagePullPolicy \("Sometimes"\) must be one of/);
            assert.match(thrown(() => new Keda("bad", { source: { chart: {} } })), /source\.chart needs exactly one of path/);
        });
        it("source needs exactly one of manifests or chart", () => {
            assert.match(thrown(() => new Keda("bad", { source: { manifests: file, chart: { path: "/charts/keda" } } })),
                /^Keda "bad": source needs exactly one of source\.manifests \(rendered YAML on local disk\) or source\.chart \(Helm chart\), not both$/);
            assert.match(thrown(() => new Keda("bad", { source: {} })), /^Keda "bad": source needs exactly one of source\.manifests .* or source\.chart .*, got neither$/);
        });
    });
});
