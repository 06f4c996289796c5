// A random secret generated once and kept (encrypted) in the Pulumi state.
//
// Why a dynamic resource instead of `@pulumi/random`: `@pulumi/random` needs its own provider plugin, which
// is one more binary to build and ship to every environment that runs `pulumi up` (the local proving ground
// builds its plugins from source). The dynamic provider runs on the Node runtime the program already uses.
// Node's `crypto.randomBytes` is a CSPRNG; the value is generated in `create` (never during preview), marked
// secret, and changes only when `length` or `keepers` change.
import * as pulumi from "@pulumi/pulumi";

/** The dynamic provider (exported for tests). */
export const randomTokenProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: any, news: any) {
        return { inputs: news };
    },
    async diff(_id: string, olds: any, news: any) {
        const changed = JSON.stringify([olds.length, olds.keepers ?? {}]) !== JSON.stringify([news.length, news.keepers ?? {}]);
        return { changes: changed, replaces: changed ? ["length", "keepers"] : [], deleteBeforeReplace: false };
    },
    async create(inputs: any) {
        const crypto = require("node:crypto");
        const bytes: number = inputs.length;
        const result: string = crypto.randomBytes(bytes).toString("base64url");
        const id: string = crypto.randomBytes(8).toString("hex");
        return { id, outs: { kind: inputs.kind, length: bytes, keepers: inputs.keepers ?? {}, result } };
    },
    async read(id: string, props: any) {
        return { id, props };
    },
    async delete() {
        /* nothing to delete */
    },
};

export interface RandomTokenArgs {
    /** Number of random bytes (the token is their base64url text). Default 32 (256 bits). */
    length?: pulumi.Input<number>;
    /** Any change to these values generates a new token (rotation). */
    keepers?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** A random base64url token generated once during `up` and kept secret in state. */
export class RandomToken extends pulumi.dynamic.Resource {
    declare public readonly result: pulumi.Output<string>;

    constructor(name: string, args: RandomTokenArgs = {}, opts?: pulumi.CustomResourceOptions) {
        super(
            randomTokenProvider,
            name,
            { kind: "longshore:RandomToken", length: args.length ?? 32, keepers: args.keepers ?? {}, result: undefined },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["result"] }),
            "longshore",
            "RandomToken",
        );
    }
}
