import { gapFiles } from "@gap/proto";
import {
  createLogger,
  exitOnSignals,
  JobQueue,
  serviceConfigFromEnv,
  startService,
  type RunningService,
  type ServiceName,
  type ServiceRegistration,
} from "@gap/service-kit";
import { createArtifactStore, type ArtifactStore } from "@gap/artifacts";
import { initBackend } from "@gap/ml-core";
import { dataSourcesFromEnv, type DataSources } from "./datasets.js";

/** What every compute service's handlers work with. */
export interface ComputeDeps {
  store: ArtifactStore;
  sources: DataSources;
  /** One compute job at a time, a bounded line behind it. */
  queue: JobQueue;
}

/**
 * Starts a compute service as its own process would: config from the
 * environment, the TensorFlow.js backend, the artifact store, then gRPC.
 */
export async function startComputeService(
  name: ServiceName,
  register: (deps: ComputeDeps) => ServiceRegistration,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningService> {
  const config = serviceConfigFromEnv(name, env);
  const log = createLogger({ service: name });
  const backend = await initBackend(undefined, { log: (record) => log.info("backend selected", { ...record }) });
  const deps: ComputeDeps = { store: createArtifactStore(env), sources: dataSourcesFromEnv(env), queue: new JobQueue(config.queueLimit) };
  log.info("store", { bucket: deps.store.bucket, kind: env.MINIO_ENDPOINT ? "s3" : "local" });
  return startService({ config, files: gapFiles, services: [register(deps)], log: log.child({ backend: backend.name }) });
}

/** Entry point of a service process: start, and stop gracefully on SIGTERM/SIGINT. */
export async function runServiceProcess(name: ServiceName, register: (deps: ComputeDeps) => ServiceRegistration): Promise<void> {
  try {
    exitOnSignals(await startComputeService(name, register));
  } catch (error) {
    createLogger({ service: name }).error("failed to start", { error });
    process.exit(1);
  }
}
