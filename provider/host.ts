// Run time: the component provider the engine starts (`pulumi package add`, every preview/up of a program in
// another language), serving the schema generated when the package was built (dist/provider/schema.json, see
// schema.ts) instead of @pulumi/pulumi's componentProviderHost, which type-checks and analyses the TypeScript
// sources on every start. Construct is the same as that host's: construct the component, return its outputs.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as provider from "@pulumi/pulumi/provider";
import { BuiltSchema, PACKAGE_NAME, componentNames } from "./schema";
import * as exported from "./index";

type ComponentClass = new (name: string, args: unknown, opts?: pulumi.ComponentResourceOptions) => pulumi.ComponentResource;

/** A Pulumi provider over prebuilt schema + component definitions. */
export class PrebuiltComponentProvider implements provider.Provider {
    readonly version: string;
    private readonly schemaText: string;
    private readonly classes = new Map<string, ComponentClass>();

    constructor(private readonly built: BuiltSchema, moduleExports: Record<string, unknown> = exported) {
        this.version = built.schema.version ?? "0.0.0";
        this.schemaText = JSON.stringify(built.schema);
        for (const [k, v] of Object.entries(moduleExports)) {
            if (componentNames({ [k]: v }).length === 1) this.classes.set((v as ComponentClass).name, v as ComponentClass);
        }
        const served = [...this.classes.keys()].sort();
        const inSchema = Object.keys(built.components).sort();
        if (JSON.stringify(served) !== JSON.stringify(inSchema)) {
            throw new Error(`longshore provider: the schema (${inSchema.join(", ")}) does not match the components (${served.join(", ")}); rebuild the package (npm run build)`);
        }
    }

    async getSchema(): Promise<string> {
        return this.schemaText;
    }

    async construct(name: string, type: string, inputs: pulumi.Inputs, options: pulumi.ComponentResourceOptions): Promise<provider.ConstructResult> {
        const [pkg, mod, component] = type.split(":");
        const cls = this.classes.get(component);
        if (pkg !== PACKAGE_NAME || (mod !== "index" && mod !== "") || !cls) throw new Error(`longshore provider: unknown resource type ${type}`);
        const instance = new cls(name, inputs, options) as unknown as Record<string, unknown> & pulumi.ComponentResource;
        const state: Record<string, unknown> = {};
        for (const k of Object.keys(this.built.components[component].outputs)) state[k] = instance[k];
        return { urn: instance.urn, state: state as pulumi.Inputs };
    }
}

/** The prebuilt schema next to this module (written by scripts/build-package.js). */
export function loadBuiltSchema(file = path.join(__dirname, "schema.json")): BuiltSchema {
    return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** Serves the provider on the engine's gRPC protocol (args: the engine address the plugin was started with). */
export function serve(args: string[] = process.argv.slice(2)): Promise<void> {
    return provider.main(new PrebuiltComponentProvider(loadBuiltSchema()), args);
}
