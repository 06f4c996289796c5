// `pulumi preview --diff --json` of the e2e stack, for tests that assert on what a preview would change.
import { execFile } from "child_process";
import { REPO } from "./harness";
import { STACK } from "./stack";

export interface Step { op: string; urn: string; diffReasons?: string[]; detailedDiff?: Record<string, { kind: string }>; newState?: { type?: string } }

/** `pulumi preview --diff --json` of the stack: its steps, and those that change something. */
export function previewJson(): Promise<{ steps: Step[]; changed: Step[]; summary: Record<string, number> }> {
  return new Promise((resolve, reject) =>
    execFile("pulumi", ["preview", "--stack", STACK, "--diff", "--json", "--non-interactive"], { cwd: REPO, env: process.env, maxBuffer: 256 << 20, timeout: 15 * 60_000 },
      (e, so, se) => {
        if (e) return reject(new Error(`pulumi preview failed: ${e.message}\n${so.slice(-4000)}\n${se.slice(-4000)}`));
        const j = JSON.parse(so) as { steps?: Step[]; changeSummary?: Record<string, number> };
        const steps = j.steps ?? [];
        resolve({ steps, changed: steps.filter((s) => s.op !== "same"), summary: j.changeSummary ?? {} });
      }));
}

export const typeOf = (urn: string): string => urn.split("::")[2].split("$").pop()!;
export const nameOf = (urn: string): string => urn.split("::")[3];

