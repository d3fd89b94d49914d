// What a cluster does to a long run, done to real processes and a real S3 server:
// each fault ends in a SUCCEEDED experiment with a complete table, or a clear refusal.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toJsonString } from "@bufbuild/protobuf";
import { ExperimentSpecSchema, PruningScope, PruningStrategy, RunState, TrainingService, type ExperimentEvent, type TrainResult } from "@gap/proto";
import { GapClient, type ExperimentSpecInit } from "@gap/client";
import { createArtifactStore, S3ArtifactStore } from "@gap/artifacts";
import { createClient, status } from "@gap/service-kit";
import { liveCluster } from "../support/live-cluster.js";
import { tinySpec } from "../support/tiny-spec.js";

const REPO_ROOT = join(import.meta.dirname, "../..");
const live = liveCluster("faults", { GAP_CONCURRENCY: "2" }, {
  replicas: { training: 2 },
  envOf: {
    coordinator: { GAP_SILENCE_LIMIT_MS: "15000" },
    // A short grace: a SIGTERM cuts the running step instead of letting it finish.
    training: { GAP_SHUTDOWN_GRACE_MS: "300" },
    "training-2": { GAP_SHUTDOWN_GRACE_MS: "300" },
  },
});
let client: GapClient;

beforeAll(() => {
  client = new GapClient(live.cluster.coordinatorAddress);
});
afterAll(() => client?.close());

/** The tiny experiment with steps long enough to be cut: 30 training epochs, 10 of fine-tuning. */
function faultSpec(seed: bigint): ExperimentSpecInit {
  const spec = tinySpec(`faults-${seed}`);
  return {
    ...spec,
    seed,
    strategies: [{ strategy: PruningStrategy.MAGNITUDE, scope: PruningScope.GLOBAL }],
    training: { ...spec.training, epochs: 30 },
    fineTuning: { ...spec.fineTuning, epochs: 10 },
  } as ExperimentSpecInit;
}

/** Collects an experiment's events in the background; waitFor resolves when one matches. */
function watch(experimentId: string) {
  const events: ExperimentEvent[] = [];
  const waiters: Array<{ match: (e: ExperimentEvent) => boolean; resolve: (e: ExperimentEvent) => void }> = [];
  const done = client.wait(experimentId, (event) => {
    events.push(event);
    for (const w of waiters.filter((w) => w.match(event))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(event);
    }
  });
  return {
    events,
    done,
    waitFor: (match: (e: ExperimentEvent) => boolean) => new Promise<ExperimentEvent>((resolve) => waiters.push({ match, resolve })),
  };
}

const trainingAt = (epoch: number, suffix = "/train") => (e: ExperimentEvent) =>
  e.stepId.endsWith(suffix) && e.state === RunState.RUNNING && (e.progress?.metrics.epoch ?? 0) >= epoch;

async function expectComplete(experimentId: string, state: RunState) {
  expect(state).toBe(RunState.SUCCEEDED);
  const { rows } = await client.results(experimentId);
  expect(rows).toHaveLength(4); // unpruned and magnitude (global), float and int8
  for (const row of rows) {
    for (const metric of [row.clean, row.adversarial, row.transfer, row.heldOutTransfer]) expect(metric?.total).toBeGreaterThan(0n);
    expect(row.sizeBytes).toBeGreaterThan(0n);
  }
}

const exited = (name: string) => new Promise<void>((resolve) => live.cluster.processes.get(name)!.once("exit", () => resolve()));

describe("faults during a run", () => {
  it("SIGTERM of the training replicas mid-step (a rolling update): retried, resumed from the checkpoint", async () => {
    const { experimentId } = await client.start(faultSpec(11n));
    const run = watch(experimentId);
    await run.waitFor(trainingAt(5));
    const cutAt = Date.now();
    const gone = Promise.all(["training", "training-2"].map(exited));
    for (const name of ["training", "training-2"]) live.cluster.processes.get(name)!.kill("SIGTERM");
    await gone;
    await Promise.all(["training", "training-2"].map((name) => live.cluster.restart(name)));
    await expectComplete(experimentId, await run.done);
    const retried = run.events.filter((e) => e.stepId.endsWith("/train") && e.message.startsWith("retrying"));
    expect(retried.length).toBeGreaterThan(0);
    expect(retried[0]!.message).toContain("server shutting down");
    console.log(`SIGTERM: recovered ${((Date.now() - cutAt) / 1000).toFixed(1)} s after the cut (whole rest of the run included)`);
  });

  it("SIGKILL of the only attack replica, restarted 30 s later: the retry budget outlasts it", async () => {
    const { experimentId } = await client.start(faultSpec(12n));
    const run = watch(experimentId);
    await run.waitFor((e) => e.stepId.endsWith("/attack") && e.state === RunState.RUNNING);
    const killedAt = Date.now();
    const gone = exited("attack");
    live.cluster.processes.get("attack")!.kill("SIGKILL");
    await gone;
    await sleep(30_000);
    await live.cluster.restart("attack");
    await expectComplete(experimentId, await run.done);
    expect(run.events.some((e) => e.message.startsWith("retrying"))).toBe(true);
    console.log(`SIGKILL: experiment done ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill (30 s of it down)`);
  });

  it("one of two training replicas frozen (SIGSTOP): the silent call is cancelled and retried on the other", async () => {
    const frozen = live.cluster.processes.get("training")!;
    frozen.kill("SIGSTOP");
    try {
      const { experimentId } = await client.start(faultSpec(13n));
      const run = watch(experimentId);
      await expectComplete(experimentId, await run.done);
      const silent = run.events.filter((e) => /sent nothing for \d+ s|UNAVAILABLE|keepalive/i.test(e.message));
      expect(silent.length).toBeGreaterThan(0);
      console.log(`SIGSTOP: ${silent.length} call(s) abandoned: ${silent[0]!.message}`);
    } finally {
      frozen.kill("SIGCONT");
    }
  });

  it("the store down for 10 s: store calls are retried and the run completes", async () => {
    const { experimentId } = await client.start(faultSpec(14n));
    const run = watch(experimentId);
    await run.waitFor(trainingAt(3));
    await live.s3.pause();
    await sleep(10_000);
    await live.s3.resume();
    await expectComplete(experimentId, await run.done);
  });

  it("a corrupted and a deleted cached artifact are recomputed on the next run, with a warning", async () => {
    const spec = faultSpec(18n);
    const store = createArtifactStore(live.s3.env) as S3ArtifactStore;
    const before = new Set(await store.list("artifacts/"));
    const first = await client.start(spec);
    await expectComplete(first.experimentId, await client.wait(first.experimentId));
    const keys = (await store.list("artifacts/")).filter((k) => !before.has(k)); // this experiment's outputs
    const weights = keys.find((k) => k.startsWith("artifacts/train/"))!;
    const set = keys.find((k) => k.startsWith("artifacts/attack/"))!;
    // Corrupt: other bytes under the sha256 recorded for the original ones.
    const original = (await store.stat(weights))!;
    const bytes = Buffer.from(await store.get(weights));
    bytes[bytes.length - 1] ^= 0xff;
    await store.client.putObject(store.bucket, weights, bytes, bytes.length, { "x-amz-meta-sha256": original.sha256 });
    await store.delete(set);

    const { experimentId } = await client.start(spec);
    const run = watch(experimentId);
    await expectComplete(experimentId, await run.done);
    const warnings = run.events.filter((e) => e.message.includes("recomputing"));
    expect(warnings.map((e) => e.stepId).sort()).toHaveLength(2);
    expect((await store.stat(weights))!.sha256).toBe(original.sha256); // recomputed to the same bits
    expect(await store.exists(set)).toBe(true);
  });

  it("a training service killed mid-step continues from its checkpoint to the same sha256", async () => {
    let training = createClient(TrainingService, live.cluster.addresses.training![0]!);
    const spec = faultSpec(15n);
    const request = (outputKey: string) => ({
      model: { architecture: spec.architectures![0]!, numClasses: 10, inputShape: spec.inputShape },
      trainData: spec.trainData,
      config: { ...spec.training, seed: 3n },
      fromScratch: true,
      outputKey,
    });
    const run = async (outputKey: string, onEpoch?: (epoch: number) => void) => {
      let result: TrainResult | undefined;
      for await (const message of training.train(request(outputKey) as never)) {
        if (message.event.case === "progress") onEpoch?.(message.event.value.metrics.epoch ?? 0);
        else if (message.event.case === "result") result = message.event.value;
      }
      return result!;
    };
    const whole = await run("faults/whole.safetensors");
    expect(whole.resumedAfterEpoch).toBe(0);

    const store = createArtifactStore(live.s3.env);
    const checkpoint = "checkpoints/faults/cut.safetensors";
    let killedAtEpoch = 0;
    const cut = run("faults/cut.safetensors", (epoch) => {
      if (epoch >= 12 && killedAtEpoch === 0) {
        killedAtEpoch = epoch;
        live.cluster.processes.get("training")!.kill("SIGKILL");
      }
    }).catch((error: { code: number }) => error);
    expect((await cut as { code: number }).code).toBe(status.UNAVAILABLE);
    expect(await store.exists(checkpoint)).toBe(true);
    await live.cluster.restart("training");
    // A fresh channel: the old one is still backing off from the refused connections of the restart.
    training.close();
    training = createClient(TrainingService, live.cluster.addresses.training![0]!);
    const resumed = await run("faults/cut.safetensors");
    expect(resumed.resumedAfterEpoch).toBeGreaterThanOrEqual(10);
    expect(resumed.weights!.sha256).toBe(whole.weights!.sha256);
    expect(await store.exists(checkpoint)).toBe(false); // deleted once the weights are stored
    console.log(`checkpoint: killed after epoch ${killedAtEpoch}'s progress, resumed after epoch ${resumed.resumedAfterEpoch} of 30: ${killedAtEpoch - resumed.resumedAfterEpoch} epoch(s) of work redone`);
    training.close();
  });

  it("the CLI's watch survives a coordinator restart and reports the experiment's real end", async () => {
    const work = mkdtempSync(join(tmpdir(), "gap-faults-cli-"));
    writeFileSync(join(work, "spec.json"), toJsonString(ExperimentSpecSchema, create(ExperimentSpecSchema, faultSpec(16n))));
    const cli = spawn(process.execPath, ["--import", "tsx", "services/coordinator/src/cli.ts", "run"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, ...live.s3.env, GAP_COORDINATOR_ADDRESS: live.cluster.coordinatorAddress, GAP_SPEC: join(work, "spec.json"), GAP_WORK_DIR: work },
    });
    let stdout = "";
    cli.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exitCode = new Promise<number | null>((resolve) => cli.once("exit", resolve));
    while (!/\/train running/.test(stdout)) await sleep(200);
    const gone = exited("coordinator");
    live.cluster.processes.get("coordinator")!.kill("SIGKILL");
    await gone;
    await sleep(2_000);
    await live.cluster.restart("coordinator");
    expect(await exitCode).toBe(0);
    expect(stdout).toContain("reconnecting");
    expect(stdout).toContain("experiment succeeded");
  });
});

describe("refusals before anything runs", () => {
  const exec = promisify(execFile);
  const cliWith = (env: Record<string, string>) =>
    exec(process.execPath, ["--import", "tsx", "services/coordinator/src/cli.ts", "run"], { cwd: REPO_ROOT, env: { PATH: process.env.PATH!, ...env }, encoding: "utf8", timeout: 60_000 }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );

  it("GAP_CONCURRENCY=0 (and -1, abc): exit status 2 and one line, from the coordinator and from the CLI", async () => {
    for (const value of ["0", "-1", "abc"]) {
      const coordinator = await exec(process.execPath, ["--import", "tsx", "services/coordinator/src/main.ts"], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH!, GAP_CONCURRENCY: value, GAP_PORT: "0", ...Object.fromEntries(Object.entries(live.cluster.addresses).map(([n, a]) => [`GAP_${n.toUpperCase()}_ADDRESSES`, a.join(",")])) },
        encoding: "utf8",
        timeout: 60_000,
      }).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(coordinator.code).toBe(2);
      expect(coordinator.stderr.trim()).toBe(`configuration error: GAP_CONCURRENCY="${value}": must be an integer in [1, 256]`);
    }
    const cli = await cliWith({ GAP_CONCURRENCY: "0" });
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a spec over the step cap: the CLI prints one line and exits 2; the coordinator refuses it", async () => {
    const work = mkdtempSync(join(tmpdir(), "gap-faults-cap-"));
    writeFileSync(join(work, "spec.yaml"), `preset: quick\ncompression_ratios: [${Array.from({ length: 10_000 }, (_, i) => 2 + i / 100).join(", ")}]\n`);
    const cli = await cliWith({ GAP_SPEC: join(work, "spec.yaml"), GAP_WORK_DIR: work });
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim()).toMatch(/^bad spec: spec: makes \d+ steps, more than the 20000 one experiment may have; split the grid$/);
    const huge = { ...faultSpec(17n), compressionRatios: Array.from({ length: 2_000 }, (_, i) => 2 + i) } as ExperimentSpecInit;
    await expect(client.start(huge)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("more than the 20000") });
  });
});
