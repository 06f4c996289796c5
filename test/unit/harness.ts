// Pulumi mock harness for the component unit tests (not a test file itself).
//
// Mocks and module state: `pulumi.runtime.setMocks` replaces the resource monitor of the single @pulumi/pulumi
// instance every test file shares, so each suite calls `mockPulumi()` in a `before`/`beforeEach` hook — that
// resets the monitor, the recorded resources and the preview flag — and creates its components afterwards.
// The components create no resources at import time, so importing them before setMocks is safe.
import * as pulumi from "@pulumi/pulumi";

export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface Registered {
    type: string;
    name: string;
    /** Inputs as the engine received them: secret values are `{ [SECRET_SIG_KEY]: SECRET_SIG, value }`. */
    raw: any;
    /** Inputs with secret wrappers removed. */
    inputs: any;
}

export interface Recorder {
    resources: Registered[];
    invokes: { token: string; args: any }[];
    byType(type: string): Registered[];
    one(type: string, name?: string): Registered;
}

export function isSecretValue(v: any): boolean {
    return !!v && typeof v === "object" && v[SECRET_SIG_KEY] === SECRET_SIG;
}

export function unwrapSecrets(v: any): any {
    if (isSecretValue(v)) return unwrapSecrets(v.value);
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v && typeof v === "object") {
        const out: any = {};
        for (const [k, x] of Object.entries(v)) out[k] = unwrapSecrets(x);
        return out;
    }
    return v;
}

/** True when `v` or anything inside it is a secret-marked value. */
export function containsSecret(v: any): boolean {
    if (isSecretValue(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v && typeof v === "object") return Object.values(v).some(containsSecret);
    return false;
}

/** What the mocked ImageConfig (an image's ENTRYPOINT/CMD read from the registry) answers; tests may change it. */
export const MOCK_IMAGE_CONFIG = { entrypoint: ["python", "/opt/model/cli.py"] as string[], cmd: ["--help"] as string[], workingDir: "/opt/model", user: "" };

export const FAKE_DIGEST = "sha256:" + "ab".repeat(32);

/** Installs fresh mocks. `preview` runs the program as `pulumi preview` would (unknown outputs for new resources). */
export async function mockPulumi(opts: { preview?: boolean; stack?: string; emptyImageDigests?: boolean } = {}): Promise<Recorder> {
    const resources: Registered[] = [];
    const invokes: { token: string; args: any }[] = [];
    const rec: Recorder = {
        resources,
        invokes,
        byType: (type) => resources.filter((r) => r.type === type),
        one: (type, name) => {
            const found = resources.filter((r) => r.type === type && (name === undefined || r.name === name));
            if (found.length !== 1) {
                throw new Error(`expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${resources.map((r) => `${r.type}/${r.name}`).join(", ")}`);
            }
            return found[0];
        },
    };
    const preview = opts.preview ?? false;
    await pulumi.runtime.setMocks({
        newResource(args: pulumi.runtime.MockResourceArgs) {
            const inputs = unwrapSecrets(args.inputs);
            resources.push({ type: args.type, name: args.name, raw: args.inputs, inputs });
            const state: any = { ...args.inputs };
            if (args.type === "pulumi-nodejs:dynamic/longshore:RegistryDigest") {
                const image: string = inputs.image;
                const repo = image.slice(0, image.lastIndexOf(":"));
                Object.assign(state, { repository: repo, tag: image.slice(image.lastIndexOf(":") + 1), digest: FAKE_DIGEST, ref: `${repo}@${FAKE_DIGEST}` });
            }
            if (args.type === "pulumi-nodejs:dynamic/longshore:ImageConfig") Object.assign(state, MOCK_IMAGE_CONFIG);
            if (args.type === "pulumi-nodejs:dynamic/longshore:RandomToken") state.result = "mock-random-token-0123456789abcdef";
            if (args.type === "docker-build:index:Image") {
                // emptyImageDigests: what the real docker-build provider answers for an image it does not build
                // (a preview of a changed image with buildOnPreview false).
                state.digest = opts.emptyImageDigests ? "" : FAKE_DIGEST;
                state.ref = opts.emptyImageDigests ? "" : `${inputs.tags?.[0]}@${FAKE_DIGEST}`;
            }
            if (args.type === "aws:eks/nodeGroup:NodeGroup") {
                state.nodeGroupName = inputs.nodeGroupName ?? `${args.name}-ng`;
                state.resources = [{ autoscalingGroups: [{ name: `eks-${args.name}-asg` }] }];
            }
            if (args.type === "eks:index:Cluster") {
                Object.assign(state, {
                    kubeconfigJson: JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [] }),
                    oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
                    oidcProviderUrl: "oidc.eks.us-east-1.amazonaws.com/id/ABC",
                });
            }
            if (args.type === "aws:ecr/repository:Repository") {
                state.repositoryUrl = `123456789012.dkr.ecr.us-east-1.amazonaws.com/${inputs.name}`;
                state.registryId = "123456789012";
            }
            if (args.type === "aws:elasticache/replicationGroup:ReplicationGroup") state.primaryEndpointAddress = "master.longshore.cache.amazonaws.com";
            if (args.type === "aws:ec2/vpc:Vpc") state.cidrBlock = inputs.cidrBlock;
            if (args.type.startsWith("aws:") && state.arn === undefined) state.arn = `arn:aws:mock:us-east-1:123456789012:${args.name}`;
            if (args.type === "aws:iam/role:Role") state.arn = `arn:aws:iam::123456789012:role/${args.name}`;
            if (args.type === "aws:ec2/launchTemplate:LaunchTemplate") state.latestVersion = 1;
            if (args.type.startsWith("kubernetes:") && state.metadata && state.metadata.name === undefined) {
                state.metadata = { ...state.metadata, name: `${args.name}-generated` };
            }
            return { id: preview ? undefined as any : `${args.name}-id`, state: preview ? state : state };
        },
        call(args: pulumi.runtime.MockCallArgs) {
            invokes.push({ token: args.token, args: args.inputs });
            if (args.token === "aws:ecr/getAuthorizationToken:getAuthorizationToken") {
                return { userName: "AWS", password: "ecr-password", proxyEndpoint: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com", authorizationToken: "x" };
            }
            return {};
        },
    }, "longshore", opts.stack ?? "test", preview);
    return rec;
}

/** Waits until no new resource registration has happened for a few event-loop turns. */
export async function settle(rec: Recorder, quietMs = 60): Promise<void> {
    let last = -1;
    let stableSince = Date.now();
    for (;;) {
        await new Promise((r) => setTimeout(r, 10));
        if (rec.resources.length !== last) {
            last = rec.resources.length;
            stableSince = Date.now();
        } else if (Date.now() - stableSince >= quietMs) {
            return;
        }
    }
}

/** The value of an Output (known values only). */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve, reject) => {
        (o as any).promise().then(resolve, reject);
    });
}

/** Resolves with the error an Output rejects with (fails if it resolves). */
export async function rejectionOf(o: pulumi.Output<unknown>): Promise<Error> {
    try {
        const v = await valueOf(o);
        throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    } catch (e) {
        return e as Error;
    }
}

/** Runs `fn` and returns the message it throws (fails if it does not throw). */
export function thrown(fn: () => unknown): string {
    try {
        fn();
    } catch (e) {
        return (e as Error).message;
    }
    throw new Error("expected an error, none was thrown");
}

export function envOf(container: any): Record<string, any> {
    const out: Record<string, any> = {};
    for (const e of container.env ?? []) out[e.name] = e;
    return out;
}

export const DIGEST_REF = `localhost:5000/longshore/echo@sha256:${"0123456789abcdef".repeat(4)}`;
