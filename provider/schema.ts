// Build time (scripts/build-package.js): the provider's schema, from Pulumi's TypeScript component analysis of
// provider/ (its index.ts re-exports components/, so a component added there is in the schema without edits
// here). The analysis builds a TypeScript program over the components (tens of seconds on 2 cores): done once
// when the package is built, instead of at every start of the provider (see host.ts).
import * as fs from "fs";
import * as path from "path";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";
import { generateSchema, PackageSpec } from "@pulumi/pulumi/provider/experimental/schema";
import { getPulumiComponents } from "@pulumi/pulumi/provider/experimental/provider";

/** What the analysis gives: the package schema and, per component, its definition (Construct reads its outputs). */
export interface BuiltSchema {
    schema: PackageSpec;
    /** Component name -> its analysed definition (`outputs` lists the properties Construct returns). */
    components: Record<string, { outputs: Record<string, unknown> }>;
}

/** The package name other languages use (`longshore:index:<Component>`, `pulumi_longshore`). */
export const PACKAGE_NAME = "longshore";

/** The names of the ComponentResource classes a module exports (what the provider serves). */
export function componentNames(moduleExports: unknown): string[] {
    return getPulumiComponents(moduleExports).map((c) => c.name).sort();
}

/** Runs the analysis over the provider directory (its tsconfig.json and index.ts) for the named components. */
export function generateProviderSchema(providerDir: string, names: string[]): BuiltSchema {
    const pkg = JSON.parse(fs.readFileSync(path.join(providerDir, "package.json"), "utf8"));
    const analyzer = new Analyzer(providerDir, PACKAGE_NAME, pkg, new Set(names));
    const { components, typeDefinitions, dependencies } = analyzer.analyze();
    const schema = generateSchema(PACKAGE_NAME, pkg.version, pkg.description, components, typeDefinitions, dependencies);
    return { schema, components: components as unknown as BuiltSchema["components"] };
}
