import { gapFiles } from "@gap/proto";
import {
  createLogger,
  exitOnConfigError,
  exitOnSignals,
  flag,
  JobQueue,
  metrics,
  oneOf,
  readEnv,
  serviceConfigFromEnv,
  startService,
  type RunningService,
  type ServiceName,
  type ServiceRegistration,
} from "@gap/service-kit";
import type { ArtifactStore } from "@gap/artifacts";
import { storeFromEnv } from "./store.js";
import { BACKEND_CHOICES, initBackend } from "@gap/ml-core";
import { dataSourcesFromEnv, type DataSources } from "./datasets.js";
import { describeResult, runSelfCheck, selfCheckInfo } from "./self-check.js";
import { recordSelfCheck } from "./job.js";

/** What every compute service's handlers work with. */
export interface ComputeDeps {
  store: ArtifactStore;
  sources: DataSources;
  /** One compute job at a time, a bounded line behind it. */
  queue: JobQueue;
}

/** What compute services read besides the server variables. */
export const COMPUTE_VARIABLES = {
  GAP_BACKEND: oneOf("TensorFlow.js backend", "auto", BACKEND_CHOICES),
  GAP_NATIVE: flag("the native oneDNN kernels on the wasm backend, where built", true),
} as const;

/**
 * Starts a compute service as its own process would: config from the
 * environment (all of it checked first), the TensorFlow.js backend and its
 * self-check, the artifact store, then gRPC. A failed self-check leaves the
 * service NOT_SERVING (readiness probes hold it out; calls that reach it fail
 * UNAVAILABLE) and logs which comparison disagreed and by how much.
 */
export async function startComputeService(
  name: ServiceName,
  register: (deps: ComputeDeps) => ServiceRegistration,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningService> {
  const config = serviceConfigFromEnv(name, env);
  const { GAP_BACKEND: backendChoice } = readEnv(COMPUTE_VARIABLES, env);
  const store = storeFromEnv(env);
  const log = createLogger({ service: name });
  const backend = await initBackend(backendChoice, { log: (record) => log.info("backend selected", { ...record }) });
  const check = await runSelfCheck();
  recordSelfCheck(selfCheckInfo(check));
  metrics.selfCheckPassed.set(check.passed ? 1 : 0);
  metrics.selfCheckSeconds.set(check.seconds);
  const checked = { backend: check.backend, reference: "cpu", seconds: Number(check.seconds.toFixed(3)), comparisons: check.results.length };
  let notServing: string | undefined;
  if (check.passed) log.info("self-check passed", { ...checked, worst: selfCheckInfo(check).worst, nativeKernels: Object.keys(check.nativeKernels) });
  else {
    const failed = check.results.filter((r) => !r.passed);
    notServing = `backend self-check failed on ${check.backend}: ${failed.map(describeResult).join("; ")}`;
    log.error("self-check failed", { ...checked, failed: failed.map(({ name, output, metric, error, tolerance }) => ({ name, output, metric, error, tolerance })), serving: false });
  }
  const deps: ComputeDeps = { store, sources: { ...dataSourcesFromEnv(env), store }, queue: new JobQueue(config.queueLimit) };
  log.info("store", { bucket: deps.store.bucket, kind: env.MINIO_ENDPOINT ? "s3" : "local" });
  return startService({ config, files: gapFiles, services: [register(deps)], log: log.child({ backend: backend.name }), notServing });
}

/**
 * Entry point of a service process: start, and stop gracefully on SIGTERM/SIGINT.
 * A bad configuration exits with status 2 and one line.
 */
export async function runServiceProcess(name: ServiceName, register: (deps: ComputeDeps) => ServiceRegistration): Promise<void> {
  exitOnConfigError(() => {
    serviceConfigFromEnv(name);
    readEnv(COMPUTE_VARIABLES, process.env);
    storeFromEnv(process.env);
  });
  try {
    exitOnSignals(await startComputeService(name, register));
  } catch (error) {
    createLogger({ service: name }).error("failed to start", { error });
    process.exit(1);
  }
}
