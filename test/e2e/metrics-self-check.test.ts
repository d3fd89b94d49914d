// What the cluster watches, from real processes: every process's /metrics scraped
// during and after a whole experiment (real gRPC, a real S3 server), and a service
// whose backend computes one kernel wrong refusing to serve.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { credentials, makeGenericClientConstructor, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { PruningService, RunState, TrainingService, type ExperimentEvent } from "@gap/proto";
import { GapClient } from "@gap/client";
import { createArtifactStore } from "@gap/artifacts";
import { COMPUTE_SERVICES, createClient, sampleSum, SERVICES, status } from "@gap/service-kit";
import { liveCluster } from "../support/live-cluster.js";
import { tinySpec } from "../support/tiny-spec.js";

const REPO_ROOT = join(import.meta.dirname, "../..");
const scrape = async (address: string) => {
  const response = await fetch(`http://${address}/metrics`);
  expect(response.status, address).toBe(200);
  return response.text();
};

function healthCheck(address: string, service: string) {
  const Health = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const health = new Health(address, credentials.createInsecure()) as Client & Record<string, Function>;
  return new Promise<string>((resolve, reject) =>
    health.Check({ service }, (error: Error | null, reply: { status: string }) => {
      health.close();
      return error ? reject(error) : resolve(reply.status);
    }),
  );
}

describe("/metrics of every process during a run", () => {
  const live = liveCluster("metrics", { GAP_CONCURRENCY: "2" });

  it("moves the counters of jobs, images, errors, steps and experiments; the report shows each service's self-check", async () => {
    const names = ["coordinator", ...COMPUTE_SERVICES];
    expect([...live.cluster.metricsAddresses.keys()].sort()).toEqual([...names].sort());
    const before = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await scrape(live.cluster.metricsAddresses.get(n)!)] as const)));
    for (const name of COMPUTE_SERVICES) {
      expect(sampleSum(before[name]!, "gap_self_check_passed"), name).toBe(1);
      expect(sampleSum(before[name]!, "gap_self_check_seconds"), name).toBeGreaterThan(0);
      expect(sampleSum(before[name]!, "gap_job_duration_seconds_count", { kind: name }) ?? 0, name).toBe(0);
    }

    const client = new GapClient(live.cluster.coordinatorAddress);
    const { experimentId, totalSteps } = await client.start(tinySpec("metrics"));
    // Scraped while the experiment runs: the coordinator holds it as running.
    let during: Promise<string> | undefined;
    const events: ExperimentEvent[] = [];
    const state = await client.wait(experimentId, (event) => {
      events.push(event);
      if (event.stepId.endsWith("/train") && event.state === RunState.RUNNING && event.progress) during ??= scrape(live.cluster.metricsAddresses.get("coordinator")!);
    });
    expect(state).toBe(RunState.SUCCEEDED);
    expect(during, "a scrape while a training step ran").toBeDefined();
    expect(sampleSum(await during!, "gap_experiments", { state: "running" })).toBe(1);
    expect(sampleSum(await during!, "gap_steps_total", { kind: "train", state: "running" })).toBeGreaterThanOrEqual(1);

    // A call with a bad request: an error by its gRPC status on the training service.
    const training = createClient(TrainingService, live.cluster.addresses.training!);
    const bad = (async () => {
      for await (const _ of training.train({})) return;
    })();
    await expect(bad).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    training.close();

    const after = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await scrape(live.cluster.metricsAddresses.get(n)!)] as const)));
    const coordinator = after.coordinator!;
    expect(sampleSum(coordinator, "gap_experiments_total", { state: "succeeded" })).toBe(1);
    expect(sampleSum(coordinator, "gap_experiments", { state: "succeeded" })).toBe(1);
    expect(sampleSum(coordinator, "gap_steps_total", { state: "succeeded" })).toBe(totalSteps);
    for (const kind of ["train", "attack", "prune", "quantize", "evaluate"]) {
      expect(sampleSum(coordinator, "gap_steps_total", { kind, state: "succeeded" }), kind).toBeGreaterThan(0);
    }
    for (const name of COMPUTE_SERVICES) {
      const text = after[name]!;
      expect(sampleSum(text, "gap_job_duration_seconds_count", { kind: name, outcome: "ok" }), name).toBeGreaterThan(0);
      expect(sampleSum(text, "gap_job_duration_seconds_sum", { kind: name, outcome: "ok" }), name).toBeGreaterThan(0);
      expect(sampleSum(text, "gap_jobs_running"), name).toBe(0);
      expect(sampleSum(text, "gap_jobs_queued"), name).toBe(0);
    }
    for (const name of ["training", "attack", "evaluation"]) {
      expect(sampleSum(after[name]!, "gap_images_total", { kind: name }), name).toBeGreaterThan(0);
      expect(sampleSum(after[name]!, "gap_images_per_second", { kind: name }), name).toBeGreaterThan(0);
    }
    const trainingErrors = (text: string) => sampleSum(text, "gap_rpc_errors_total", { method: "gap.v1.TrainingService/Train", code: "INVALID_ARGUMENT" }) ?? 0;
    expect(trainingErrors(after.training!)).toBe(trainingErrors(before.training!) + 1);

    // The self-check each service ran is in every job's JobInfo, and so in the report's software table.
    const report = await client.report(experimentId);
    const html = new TextDecoder().decode(await createArtifactStore(live.s3.env).get(report.report!));
    expect(html).toContain("backend self-check");
    expect(html).toMatch(/passed: \d+ comparisons with cpu; closest to its tolerance: /);
    expect(events.filter((e) => e.state === RunState.FAILED)).toEqual([]);
    client.close();
  });
});

describe("a kernel made wrong on purpose", () => {
  let child: ChildProcess | undefined;
  afterAll(() => void child?.kill("SIGKILL"));

  it("keeps the service NOT_SERVING, names the comparison that disagreed and by how much, and refuses calls", async () => {
    const started = Date.now();
    child = spawn(process.execPath, ["--import", "tsx", "--import", join(REPO_ROOT, "test/support/wrong-kernel.ts"), "services/pruning/src/main.ts"], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        GAP_HOST: "127.0.0.1",
        GAP_PORT: "0",
        GAP_METRICS_PORT: "0",
        GAP_STORE_DIR: mkdtempSync(join(tmpdir(), "gap-wrong-kernel-")),
        GAP_TEST_WRONG_KERNEL: "AvgPool",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const records: Array<Record<string, unknown>> = [];
    const listening = new Promise<{ address: string; metrics: string }>((resolve, reject) => {
      let metrics = "";
      createInterface({ input: child!.stderr! }).on("line", (line) => {
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          records.push(record);
          if (record.msg === "metrics listening") metrics = record.address as string;
          if (record.msg === "listening") resolve({ address: record.address as string, metrics });
        } catch {
          // not a log record
        }
      });
      child!.once("exit", (code) => reject(new Error(`pruning exited (${code}) before listening:\n${JSON.stringify(records.slice(-5))}`)));
    });
    const { address, metrics } = await listening;
    console.log(`wrong kernel: pruning listening ${((Date.now() - started) / 1000).toFixed(1)} s after spawn`);
    expect(records.find((r) => r.msg === "kernel made wrong on purpose")).toMatchObject({ kernel: "AvgPool" });
    const failed = records.find((r) => r.msg === "self-check failed") as { failed: Array<{ name: string; output: string; error: number; tolerance: number }>; level: string } | undefined;
    expect(failed, "a self-check failed record").toBeDefined();
    expect(failed!.level).toBe("error");
    expect(failed!.failed.map((f) => [f.name, f.output])).toEqual([[expect.stringMatching(/^pooling/), "avg pool"]]);
    expect(failed!.failed[0]!.error).toBeGreaterThan(failed!.failed[0]!.tolerance);
    expect(records.find((r) => r.msg === "listening")).toMatchObject({ serving: false });

    // Held out (readiness), alive (liveness), and a call that reaches it anyway is refused.
    expect(await healthCheck(address, SERVICES.pruning.grpcService)).toBe("NOT_SERVING");
    expect(await healthCheck(address, "")).toBe("SERVING");
    const pruning = createClient(PruningService, address);
    const call = (async () => {
      for await (const _ of pruning.prune({})) return;
    })();
    await expect(call).rejects.toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/^not serving: backend self-check failed on \w+: pooling .*: avg pool, max error .* \(tolerance .*\)$/) });
    pruning.close();
    expect(sampleSum(await scrape(metrics), "gap_self_check_passed")).toBe(0);
  });
});
