import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "./log.js";

/**
 * Every metric a GAP Lab process exposes, in one registry per process, served
 * by startService at GET /metrics (GAP_METRICS_PORT) for Prometheus. The
 * Node.js process metrics (CPU, memory, event-loop lag) come with it.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const registers = [registry];
/** Job durations run from seconds (a small evaluation) to days (a training step at paper scale). */
const DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3_600, 4 * 3_600, 12 * 3_600, 48 * 3_600];

export const metrics = {
  // Compute services (JobQueue, computeJob, the self-check).
  jobsRunning: new Gauge({ name: "gap_jobs_running", help: "Compute jobs running now", registers }),
  jobsQueued: new Gauge({ name: "gap_jobs_queued", help: "Compute jobs waiting behind the running one", registers }),
  jobDuration: new Histogram({
    name: "gap_job_duration_seconds",
    help: "Wall time of compute jobs, by kind (the service) and outcome (ok, error)",
    labelNames: ["kind", "outcome"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  }),
  images: new Counter({
    name: "gap_images_total",
    help: "Images computed on by finished jobs (training: images x epochs; attack: adversarial images; evaluation: images), by kind; rate() gives images per second",
    labelNames: ["kind"] as const,
    registers,
  }),
  imagesPerSecond: new Gauge({
    name: "gap_images_per_second",
    help: "Images per second of the last finished job, by kind",
    labelNames: ["kind"] as const,
    registers,
  }),
  selfCheckPassed: new Gauge({ name: "gap_self_check_passed", help: "1 when the backend self-check at start-up passed, 0 when it failed", registers }),
  selfCheckSeconds: new Gauge({ name: "gap_self_check_seconds", help: "Time the backend self-check took at start-up", registers }),
  // Every server.
  rpcErrors: new Counter({
    name: "gap_rpc_errors_total",
    help: "Calls this server ended with an error, by method and gRPC status",
    labelNames: ["method", "code"] as const,
    registers,
  }),
  // The coordinator.
  steps: new Counter({
    name: "gap_steps_total",
    help: "Step state changes, by step kind and the state reached (running also counts each retry)",
    labelNames: ["kind", "state"] as const,
    registers,
  }),
  experiments: new Counter({ name: "gap_experiments_total", help: "Experiment state changes, by the state reached", labelNames: ["state"] as const, registers }),
  experimentsByState: new Gauge({ name: "gap_experiments", help: "Experiments this coordinator holds, by their current state", labelNames: ["state"] as const, registers }),
};

/** Serves the registry at GET /metrics on host:port (0: a free port). Resolves with the bound address. */
export async function serveMetrics(host: string, port: number, log: Logger): Promise<{ address: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: Error) => response.writeHead(500, { "content-type": "text/plain" }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`cannot bind the metrics endpoint ${host}:${port}: ${error.message}`)));
    server.listen(port, host, resolve);
  });
  const address = `${host}:${(server.address() as AddressInfo).port}`;
  log.info("metrics listening", { address, path: "/metrics" });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The sum of the samples of `name` in a Prometheus text exposition whose labels
 * include `labels` (undefined when there is none): for tests and checks that scrape /metrics.
 */
export function sampleSum(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of exposition.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) sum = (sum ?? 0) + Number(match[3]);
  }
  return sum;
}
