// The Prometheus endpoint every server opens, the metrics service-kit itself
// moves (errors by status, the job queue's gauges), and a server told not to serve.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, makeGenericClientConstructor, status, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { CoordinatorService } from "@gap/proto";
import { createClient, JobQueue, metrics, sampleSum, type RunningService } from "../src/index.js";
import { startTrivialService } from "./fixtures/trivial-service.js";

const scrape = async (service: RunningService) => {
  const response = await fetch(`http://${service.metricsAddress}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
};

function healthOf(address: string) {
  const Health = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const health = new Health(address, credentials.createInsecure()) as Client & Record<string, Function>;
  return {
    check: (name: string) =>
      new Promise<string>((resolve, reject) =>
        health.Check({ service: name }, (error: Error | null, reply: { status: string }) => (error ? reject(error) : resolve(reply.status))),
      ),
    close: () => health.close(),
  };
}

describe("metrics", () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startTrivialService();
  });
  afterAll(() => service.shutdown());

  it("serves GET /metrics on its own port, with the Node.js process metrics; other paths are 404", async () => {
    expect(service.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(service.metricsAddress).not.toBe(service.address);
    const text = await scrape(service);
    expect(sampleSum(text, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(text).toContain("# TYPE gap_job_duration_seconds histogram");
    expect((await fetch(`http://${service.metricsAddress}/other`)).status).toBe(404);
  });

  it("counts a call ended with an error under its method and gRPC status", async () => {
    const labels = { method: "gap.v1.CoordinatorService/StartExperiment", code: "INVALID_ARGUMENT" };
    const before = sampleSum(await scrape(service), "gap_rpc_errors_total", labels) ?? 0;
    const client = createClient(CoordinatorService, service.address);
    await expect(client.startExperiment({ spec: { name: "" } })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    client.close();
    expect(sampleSum(await scrape(service), "gap_rpc_errors_total", labels)).toBe(before + 1);
  });

  it("JobQueue moves gap_jobs_running and gap_jobs_queued", async () => {
    const value = async (gauge: typeof metrics.jobsRunning) => (await gauge.get()).values[0]?.value ?? 0;
    const [running0, queued0] = [await value(metrics.jobsRunning), await value(metrics.jobsQueued)];
    const queue = new JobQueue(2);
    let release!: () => void;
    const first = queue.run(new AbortController().signal, () => new Promise<void>((r) => (release = r)));
    const second = queue.run(new AbortController().signal, async () => {});
    expect([await value(metrics.jobsRunning), await value(metrics.jobsQueued)]).toEqual([running0 + 1, queued0 + 1]);
    release();
    await Promise.all([first, second]);
    expect([await value(metrics.jobsRunning), await value(metrics.jobsQueued)]).toEqual([running0, queued0]);
  });
});

describe("a server told not to serve (a failed self-check)", () => {
  it("reports its services NOT_SERVING, stays alive (\"\" SERVING), and refuses calls with UNAVAILABLE and the reason", async () => {
    const refused = await startTrivialService({}, "backend self-check failed: conv2d");
    const health = healthOf(refused.address);
    expect(await health.check("gap.v1.CoordinatorService")).toBe("NOT_SERVING");
    expect(await health.check("")).toBe("SERVING");
    health.close();
    const client = createClient(CoordinatorService, refused.address);
    await expect(client.startExperiment({ spec: { name: "a", compressionRatios: [2] } })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: "not serving: backend self-check failed: conv2d",
    });
    const watch = (async () => {
      for await (const _ of client.watchExperiment({ experimentId: "x" })) return "streamed";
    })();
    await expect(watch).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(refused.counter.starts).toBe(0);
    client.close();
    await refused.shutdown();
  });
});
