import { gapFiles } from "@gap/proto";
import { coordinatorConfigFromEnv, createLogger, exitOnConfigError, exitOnSignals, serviceConfigFromEnv, startService } from "@gap/service-kit";
import { storeFromEnv } from "@gap/compute/no-tf";
import { addressesFromEnv, createStepCaller } from "./clients.js";
import { Coordinator, coordinatorService } from "./coordinator.js";
import { DEFAULT_RETRY } from "./experiment.js";

// Every variable is checked before anything starts: a bad one exits with status 2 and one line.
const { config, coordinatorConfig, addresses, store } = exitOnConfigError(() => ({
  config: serviceConfigFromEnv("coordinator"),
  coordinatorConfig: coordinatorConfigFromEnv(),
  addresses: addressesFromEnv(),
  store: storeFromEnv(process.env),
}));
const log = createLogger({ service: "coordinator" });
try {
  const caller = createStepCaller(addresses, {
    silenceLimitMs: coordinatorConfig.silenceLimitMs,
    callTimeoutMs: coordinatorConfig.callTimeoutMs,
    connectionAgeMs: coordinatorConfig.connectionAgeMs,
  });
  const coordinator = new Coordinator({
    store,
    call: caller.call,
    checkWeights: caller.checkWeights,
    log,
    concurrency: coordinatorConfig.concurrency,
    retry: { ...DEFAULT_RETRY, budgetMs: coordinatorConfig.retryBudgetMs },
  });
  const service = await startService({ config, files: gapFiles, services: [coordinatorService(coordinator)], log });
  exitOnSignals(service);
  const resumed = await coordinator.resumeRunning();
  if (resumed.length > 0) log.info("resumed experiments", { experiments: resumed });
} catch (error) {
  log.error("failed to start", { error });
  process.exit(1);
}
