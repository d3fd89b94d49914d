// nx run coordinator:experiment [preset|spec.yaml]: the whole experiment on this machine,
// or, with GAP_COORDINATOR_ADDRESS, on a running coordinator (the Kubernetes Job).
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { createArtifactStore } from "@gap/artifacts";
import { GapClient, RunState } from "@gap/client";
import { CLI_ENV, coordinatorConfigFromEnv, exitOnConfigError, readEnv } from "@gap/service-kit";
import { COMPUTE_VARIABLES, storeFromEnv } from "@gap/compute";
import { RunState as State, type ExperimentEvent } from "@gap/proto";
import { loadSpec, validateSpec } from "./spec.js";
import { uploadBaseWeights } from "./base-weights.js";
import { startLocalCluster } from "./local-cluster.js";
import { formatTable } from "./table.js";

const REPO_ROOT = resolve(import.meta.dirname, "../../..");
const WORK_DIR = process.env[CLI_ENV.workDir] ?? join(REPO_ROOT, ".gap");
const REMOTE = process.env[CLI_ENV.coordinatorAddress];

// The variables this run hands to its processes are checked before any starts (status 2, one line).
exitOnConfigError(() => {
  coordinatorConfigFromEnv();
  readEnv(COMPUTE_VARIABLES, process.env);
  if (process.env.MINIO_ENDPOINT) storeFromEnv(process.env);
});
const specArg = process.argv[2] ?? process.env[CLI_ENV.spec] ?? "quick";
let spec: ReturnType<typeof loadSpec>;
try {
  spec = validateSpec(loadSpec(specArg));
} catch (error) {
  console.error(`bad spec: ${(error as Error).message}`);
  process.exit(2);
}
const env: Record<string, string> = {};
if (!process.env.MINIO_ENDPOINT) env.GAP_STORE_DIR = process.env.GAP_STORE_DIR ?? join(WORK_DIR, "store");
if (REMOTE && !process.env.MINIO_ENDPOINT && spec.baseWeights.some((entry) => entry.path !== "")) {
  console.error("bad spec: spec.base_weights names a local file; uploading it to a remote coordinator's store needs MINIO_ENDPOINT (and its keys)");
  process.exit(2);
}
const store = createArtifactStore({ ...process.env, ...env });
const logDir = join(WORK_DIR, "logs");
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
const tty = process.stdout.isTTY === true;

console.log(`GAP Lab: experiment "${spec.name}" (${specArg}); store: ${process.env.MINIO_ENDPOINT ?? env.GAP_STORE_DIR}${REMOTE ? "" : `; logs: ${logDir}`}`);
const cluster = REMOTE ? undefined : await startLocalCluster({ env, logDir });
const coordinatorAddress = REMOTE ?? cluster!.coordinatorAddress;
console.log(REMOTE ? `coordinator ${REMOTE}` : `services up in ${elapsed()} (coordinator ${coordinatorAddress})`);
const client = new GapClient(coordinatorAddress);
let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  client.close();
  await cluster?.stop();
  process.exit(code);
};
process.once("SIGINT", () => {
  console.log("\ninterrupted: finished steps are stored; the same command resumes");
  void shutdown(130);
});

try {
  const { experimentId, totalSteps } = await client.start(await uploadBaseWeights(store, spec));
  console.log(`experiment ${experimentId}: ${totalSteps} steps`);
  const running = new Map<string, string>();
  let done = 0;
  const render = (event: ExperimentEvent) => {
    done = event.stepsDone;
    if (event.state === State.RUNNING && event.stepId) {
      const p = event.progress;
      running.set(event.stepId, p && p.total > 0n ? `${p.phase} ${((Number(p.step) / Number(p.total)) * 100).toFixed(0)}%` : "started");
    } else running.delete(event.stepId);
    if (tty) {
      const width = 30;
      const filled = Math.round((done / totalSteps) * width);
      const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${totalSteps}`;
      const now = [...running].map(([id, state]) => `${id} ${state}`).join(" | ");
      process.stdout.write(`\r\x1b[2K${bar} ${elapsed()} ${now}`.slice(0, (process.stdout.columns ?? 120) - 1));
    } else if (event.state !== State.RUNNING || !event.progress) {
      console.log(`${elapsed()} ${done}/${totalSteps} ${event.stepId || "experiment"} ${State[event.state].toLowerCase()}${event.message ? `: ${event.message}` : ""}`);
    }
  };
  const state = await client.wait(experimentId, render, {
    onReconnect: (error) => console.log(`${elapsed()} lost the coordinator (${error.message}); reconnecting`),
  });
  if (tty) process.stdout.write("\n");
  const results = await client.results(experimentId);
  const outDir = join(WORK_DIR, "results", experimentId);
  mkdirSync(outDir, { recursive: true });
  const table = formatTable(results.rows);
  writeFileSync(join(outDir, "table.txt"), table + "\n");
  console.log(`\n${table}\n`);
  console.log(`experiment ${State[state].toLowerCase()} in ${elapsed()}`);
  console.log(`full results: ${join(outDir, "table.txt")} and ${results.results ? `${results.results.bucket}/${results.results.key} in the store` : "(none stored)"}`);
  const report = await client.report(experimentId);
  const stored = `${report.report!.bucket}/${report.report!.key} in the store`;
  if (REMOTE) console.log(`report: ${stored} (${report.files.length} files)`);
  else {
    // A local run copies the report next to the table; a remote one leaves it in the cluster's store.
    for (const file of report.files) writeFileSync(join(outDir, basename(file.key)), await store.get(file));
    console.log(`report: ${join(outDir, basename(report.report!.key))} (${report.files.length} files; ${stored})`);
  }
  await shutdown(state === RunState.SUCCEEDED ? 0 : 1);
} catch (error) {
  console.error(`experiment failed: ${(error as Error).message}${REMOTE ? "" : `\nservice logs: ${logDir}`}`);
  await shutdown(1);
}
