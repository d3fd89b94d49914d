// `gap run`: an experiment on local processes and a local store, or on a running coordinator.
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { ArtifactStore } from "@gap/artifacts";
import { GapClient, RunState } from "@gap/client";
import { RunState as State, type ExperimentEvent, type ExperimentSpec, type Progress } from "@gap/proto";
import { registerNativeKernels } from "@gap/ml-core";
import { uploadBaseWeights } from "./base-weights.js";
import { startLocalCluster } from "./local-cluster.js";
import { formatTable } from "./table.js";

export interface RunOptions {
  spec: ExperimentSpec;
  /** How the spec was named (preset or file), for the first line. */
  source: string;
  /** host:port of a running coordinator; undefined starts local processes. */
  coordinator?: string;
  workDir: string;
  /** Where the local processes keep artifacts (GAP_STORE_DIR), or the S3 store. */
  store: ArtifactStore;
  /** Environment for the local processes. */
  env: Record<string, string>;
  /** Without a terminal: a line per running step at least this often. */
  progressEveryMs?: number;
}

/** Measured on a 2-core machine: the quick preset took 29 min 54 s without the native kernels, 4 min 55 s with them. */
export const NATIVE_FACTOR = 6;

const percent = (p: Progress) => (p.total > 0n ? `${((Number(p.step) / Number(p.total)) * 100).toFixed(0)}%` : "");

/**
 * What a running step is doing, in one phrase: phase, epoch or share done, the
 * step's metric, throughput and an ETA (from the progress so far).
 */
class StepProgress {
  /** Where the rate is measured from: the phase's first progress (again after a retry starts over). */
  private origin = { at: 0, step: 0 };
  private last?: Progress;

  update(progress: Progress): void {
    if (!this.last || this.last.phase !== progress.phase || progress.step < this.last.step) this.origin = { at: Date.now(), step: Number(progress.step) };
    this.last = progress;
  }

  describe(): string {
    const p = this.last;
    if (!p) return "started";
    const m = p.metrics;
    const parts = [p.phase];
    if (m.epoch !== undefined && m.epochs !== undefined) parts.push(`epoch ${m.epoch}/${m.epochs}`);
    if (p.total > 0n) parts.push(`${p.step}/${p.total} (${percent(p)})`);
    if (m.loss !== undefined) parts.push(`loss ${m.loss.toFixed(3)}`);
    if (m.accuracy !== undefined) parts.push(`acc ${(m.accuracy * 100).toFixed(1)}%`);
    if (m.images_per_second !== undefined) parts.push(`${m.images_per_second.toFixed(0)} img/s`);
    const seconds = (Date.now() - this.origin.at) / 1000;
    const rate = seconds > 0 ? (Number(p.step) - this.origin.step) / seconds : 0;
    if (rate > 0 && p.total > 0n) parts.push(`ETA ${Math.ceil((Number(p.total) - Number(p.step)) / rate)} s`);
    return parts.join(", ");
  }
}

/**
 * A local run starts two training replicas. The fine-tunes are the critical path (the one training
 * replica was busy 190 of the quick preset's 195 s), and its last fine-tune ran alone on one core
 * for 20-26 s while the other core idled; with two, fine-tunes also run side by side. Alternating
 * runs of the quick preset (2026-12-05): 228 and 223 s with two against 245 and 250 s with one,
 * the same results to the digit (each job still runs on one thread).
 */
const LOCAL_REPLICAS = { training: 2 } as const;

export async function runCommand(options: RunOptions): Promise<number> {
  const { spec, coordinator, workDir, store } = options;
  const logDir = join(workDir, "logs");
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
  const tty = process.stdout.isTTY === true;
  console.log(`GAP Lab: experiment "${spec.name}" (${options.source}); store: ${options.env.MINIO_ENDPOINT ?? process.env.MINIO_ENDPOINT ?? options.env.GAP_STORE_DIR}${coordinator ? "" : `; logs: ${logDir}`}`);
  if (!coordinator) {
    const native = registerNativeKernels();
    if (!native.enabled) {
      console.log(`native kernels off (${native.reason}): this run takes about ${NATIVE_FACTOR}x as long; apt-get install libdnnl-dev, then npm run build -w @gap/native, turns them on`);
    }
  }
  const cluster = coordinator ? undefined : await startLocalCluster({ env: options.env, logDir, replicas: LOCAL_REPLICAS });
  const address = coordinator ?? cluster!.coordinatorAddress;
  console.log(coordinator ? `coordinator ${coordinator}` : `services up in ${elapsed()} (coordinator ${address})`);
  const client = new GapClient(address);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    client.close();
    await cluster?.stop();
  };
  process.once("SIGINT", () => {
    console.log("\ninterrupted: finished steps are stored; the same command resumes");
    void shutdown().then(() => process.exit(130));
  });

  const running = new Map<string, StepProgress>();
  let ticker: NodeJS.Timeout | undefined;
  try {
    const { experimentId, totalSteps } = await client.start(await uploadBaseWeights(store, spec));
    console.log(`experiment ${experimentId}: ${totalSteps} steps`);
    let done = 0;
    const status = () => [...running].map(([id, p]) => `${id}: ${p.describe()}`);
    // Without a terminal, every running step gets a line at least this often, even when nothing else happens.
    if (!tty) ticker = setInterval(() => status().forEach((line) => console.log(`${elapsed()} ${done}/${totalSteps} ${line}`)), options.progressEveryMs ?? 30_000);
    const render = (event: ExperimentEvent) => {
      done = event.stepsDone;
      if (event.state === State.RUNNING && event.stepId) {
        const step = running.get(event.stepId) ?? new StepProgress();
        running.set(event.stepId, step);
        if (event.progress) step.update(event.progress);
      } else running.delete(event.stepId);
      if (tty) {
        const width = 30;
        const filled = Math.round((done / totalSteps) * width);
        const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${totalSteps}`;
        process.stdout.write(`\r\x1b[2K${bar} ${elapsed()} ${status().join(" | ")}`.slice(0, (process.stdout.columns ?? 120) - 1));
      } else if (event.state !== State.RUNNING || !event.progress) {
        console.log(`${elapsed()} ${done}/${totalSteps} ${event.stepId || "experiment"} ${State[event.state].toLowerCase()}${event.message ? `: ${event.message}` : ""}`);
      }
    };
    const state = await client.wait(experimentId, render, {
      onReconnect: (error) => console.log(`${elapsed()} lost the coordinator (${error.message}); reconnecting`),
    });
    clearInterval(ticker);
    if (tty) process.stdout.write("\n");
    const results = await client.results(experimentId);
    const outDir = join(workDir, "results", experimentId);
    mkdirSync(outDir, { recursive: true });
    const table = formatTable(results.rows);
    writeFileSync(join(outDir, "table.txt"), table + "\n");
    console.log(`\n${table}\n`);
    console.log(`experiment ${State[state].toLowerCase()} in ${elapsed()}`);
    console.log(`full results: ${join(outDir, "table.txt")} and ${results.results ? `${results.results.bucket}/${results.results.key} in the store` : "(none stored)"}`);
    const report = await client.report(experimentId);
    const stored = `${report.report!.bucket}/${report.report!.key} in the store`;
    if (coordinator) console.log(`report: ${stored} (${report.files.length} files)`);
    else {
      // A local run copies the report next to the table; a remote one leaves it in the cluster's store.
      for (const file of report.files) writeFileSync(join(outDir, basename(file.key)), await store.get(file));
      console.log(`report: ${join(outDir, basename(report.report!.key))} (${report.files.length} files; ${stored})`);
    }
    return state === RunState.SUCCEEDED ? 0 : 1;
  } catch (error) {
    console.error(`experiment failed: ${(error as Error).message}${coordinator ? "" : ` (service logs: ${logDir})`}`);
    return 1;
  } finally {
    clearInterval(ticker);
    await shutdown();
  }
}
