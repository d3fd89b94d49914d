import { gapFiles } from "@gap/proto";
import { createLogger, exitOnSignals, serviceConfigFromEnv, startService } from "@gap/service-kit";
import { createArtifactStore } from "@gap/artifacts";
import { addressesFromEnv, createStepCaller } from "./clients.js";
import { Coordinator, coordinatorService } from "./coordinator.js";

const log = createLogger({ service: "coordinator" });
try {
  const config = serviceConfigFromEnv("coordinator");
  const caller = createStepCaller(addressesFromEnv());
  const coordinator = new Coordinator({
    store: createArtifactStore(),
    call: caller.call,
    log,
    concurrency: Number(process.env.GAP_CONCURRENCY ?? 2),
  });
  const service = await startService({ config, files: gapFiles, services: [coordinatorService(coordinator)], log });
  exitOnSignals(service);
  const resumed = await coordinator.resumeRunning();
  if (resumed.length > 0) log.info("resumed experiments", { experiments: resumed });
} catch (error) {
  log.error("failed to start", { error });
  process.exit(1);
}
