// The Grafana dashboard shipped with the package (dashboards/longshore-endpoints.json): valid JSON of the
// shape Grafana imports, and every metric it queries is one the gateway exports (a renamed metric would
// leave a panel silently empty).
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Metrics } from "../../gateway/src/metrics";
import { EndpointRegistry } from "../../gateway/src/endpoints";

describe("Grafana dashboard", () => {
    const file = path.resolve(__dirname, "../../dashboards/longshore-endpoints.json");
    const d = JSON.parse(fs.readFileSync(file, "utf8"));

    it("is shipped with the package", () => {
        const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../package.json"), "utf8"));
        assert.ok(pkg.files.includes("dashboards"));
    });

    it("has a datasource and an endpoint variable, unique panel ids, and a query on every panel", () => {
        assert.deepStrictEqual(d.templating.list.map((v: any) => v.name), ["datasource", "endpoint"]);
        const ids = d.panels.map((p: any) => p.id);
        assert.strictEqual(new Set(ids).size, ids.length);
        for (const p of d.panels) {
            assert.ok(p.targets.length > 0, p.title);
            for (const t of p.targets) assert.match(t.expr, /endpoint=~"\$endpoint"/, `${p.title}: filtered by the endpoint variable`);
        }
    });

    it("queries only metrics the gateway exports, and covers delay, execution, cold start, terminal statuses, retries and worker states", async () => {
        const m = new Metrics({} as any, new EndpointRegistry());
        const exported = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
        const used = new Set<string>();
        for (const p of d.panels) for (const t of p.targets) for (const n of t.expr.match(/longshore_[a-z_]+/g) ?? []) used.add(n.replace(/_(bucket|count|sum)$/, ""));
        for (const n of used) assert.ok(exported.has(n), `the dashboard queries ${n}, which the gateway does not export`);
        for (const n of ["longshore_job_delay_seconds", "longshore_job_execution_seconds", "longshore_worker_cold_start_seconds", "longshore_jobs_terminal_total", "longshore_job_retries_total", "longshore_workers", "longshore_endpoint_unhealthy"]) {
            assert.ok(used.has(n), `a panel shows ${n}`);
        }
    });
});
