import { cpus } from "node:os";
import { version_core as tfjsVersion } from "@tensorflow/tfjs-core";
import type { JobInfo } from "@gap/proto";
import { streamJob, type CallContext, type ComputeServiceName, type JobQueue, type ProgressUpdate } from "@gap/service-kit";
import { backendInfo, nativeStatus } from "@gap/ml-core";

/** Where this process computes, for the JobInfo of every result. */
export function jobInfo(service: ComputeServiceName, wallSeconds: number): Omit<JobInfo, "$typeName"> {
  const backend = backendInfo();
  const details = [backend.simd ? "SIMD" : "", backend.threads ? `${backend.threads} thread${backend.threads > 1 ? "s" : ""}` : ""].filter(Boolean);
  const native = nativeStatus();
  const kernels = native.enabled ? ` + oneDNN ${native.onednn} kernels (${native.isa}, ${native.threads} threads)` : "";
  return {
    service,
    backend: (details.length > 0 ? `${backend.choice} (${details.join(", ")})` : backend.choice) + kernels,
    tfjsVersion,
    nodeVersion: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    wallSeconds,
  };
}

/**
 * A log line per epoch (training) or per tenth of a phase (other jobs), so a
 * service's log shows its work without a terminal.
 */
function progressLog(log: CallContext["log"], report: (progress: ProgressUpdate) => void) {
  const write = (p: ProgressUpdate) => log.info("progress", { phase: p.phase, step: p.step, total: p.total, ...p.metrics });
  let previous: ProgressUpdate | undefined;
  let loggedTenth = -1;
  const update = (progress: ProgressUpdate) => {
    report(progress);
    const epoch = progress.metrics?.epoch;
    if (epoch !== undefined) {
      // An epoch's line when it ends: the last progress of that epoch holds its loss and accuracy.
      if (previous?.metrics?.epoch !== undefined && previous.metrics.epoch !== epoch) write(previous);
    } else if (progress.total > 0) {
      const tenth = Math.floor((progress.step / progress.total) * 10);
      if (progress.phase !== previous?.phase) loggedTenth = -1;
      if (tenth > loggedTenth) {
        loggedTenth = tenth;
        write(progress);
      }
    }
    previous = progress;
  };
  const finish = () => previous?.metrics?.epoch !== undefined && write(previous);
  return { update, finish };
}

/** streamJob for compute services: the result also says where the job ran and for how long; progress is logged. */
export function computeJob<Result extends object>(
  service: ComputeServiceName,
  queue: JobQueue,
  context: CallContext,
  job: (report: (progress: ProgressUpdate) => void) => Promise<Result>,
) {
  return streamJob(queue, context, async (report) => {
    const started = performance.now();
    context.log.info("job started", { service });
    const logged = progressLog(context.log, report);
    const result = await job(logged.update);
    logged.finish();
    const wallSeconds = (performance.now() - started) / 1000;
    context.log.info("job done", { service, wallSeconds: Number(wallSeconds.toFixed(2)) });
    return { ...result, job: jobInfo(service, wallSeconds) };
  });
}
