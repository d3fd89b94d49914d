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

/** streamJob for compute services: the result also says where the job ran and for how long. */
export function computeJob<Result extends object>(
  service: ComputeServiceName,
  queue: JobQueue,
  context: CallContext,
  job: (report: (progress: ProgressUpdate) => void) => Promise<Result>,
) {
  return streamJob(queue, context, async (report) => {
    const started = performance.now();
    const result = await job(report);
    return { ...result, job: jobInfo(service, (performance.now() - started) / 1000) };
  });
}
