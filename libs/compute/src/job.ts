import { cpus } from "node:os";
import { version_core as tfjsVersion } from "@tensorflow/tfjs-core";
import { create } from "@bufbuild/protobuf";
import { SelfCheckSchema, type JobInfo, type SelfCheck } from "@gap/proto";
import { metrics, streamJob, type CallContext, type ComputeServiceName, type JobQueue, type ProgressUpdate } from "@gap/service-kit";
import { backendInfo, nativeStatus } from "@gap/ml-core";

let selfCheck: SelfCheck | undefined;

/** The start-up self-check's result, for the JobInfo of every job this process runs. */
export function recordSelfCheck(result: Omit<SelfCheck, "$typeName">): void {
  selfCheck = create(SelfCheckSchema, result);
}

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
    selfCheck,
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

/**
 * streamJob for compute services: the result also says where the job ran and
 * for how long; progress is logged. The job's duration goes to
 * gap_job_duration_seconds by kind (the service) and outcome; `images` (what
 * the job computed on, from its result) to gap_images_total and gap_images_per_second.
 */
export function computeJob<Result extends object>(
  service: ComputeServiceName,
  queue: JobQueue,
  context: CallContext,
  job: (report: (progress: ProgressUpdate) => void) => Promise<Result>,
  images?: (result: Result) => number,
) {
  return streamJob(queue, context, async (report) => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    context.log.info("job started", { service });
    const logged = progressLog(context.log, report);
    let result: Result;
    try {
      result = await job(logged.update);
    } catch (error) {
      metrics.jobDuration.observe({ kind: service, outcome: "error" }, seconds());
      throw error;
    }
    logged.finish();
    const wallSeconds = seconds();
    metrics.jobDuration.observe({ kind: service, outcome: "ok" }, wallSeconds);
    const count = images?.(result) ?? 0;
    if (count > 0) {
      metrics.images.inc({ kind: service }, count);
      metrics.imagesPerSecond.set({ kind: service }, count / Math.max(wallSeconds, 1e-9));
    }
    context.log.info("job done", { service, wallSeconds: Number(wallSeconds.toFixed(2)) });
    return { ...result, job: jobInfo(service, wallSeconds) };
  });
}
