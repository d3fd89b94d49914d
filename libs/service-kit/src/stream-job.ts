import type { CallContext } from "./server.js";
import type { JobQueue } from "./job-queue.js";

/** Progress as a job reports it. */
export interface ProgressUpdate {
  step: number;
  total: number;
  phase: string;
  metrics?: Record<string, number>;
}

/** Progress as the proto's Progress message takes it. */
interface ProgressMessage {
  step: bigint;
  total: bigint;
  phase: string;
  metrics: Record<string, number>;
}

/** A call sends something at least this often, queued or computing, so callers can tell a live job from a hung one. */
export const HEARTBEAT_MS = 5_000;

/**
 * Runs a compute job through the service's queue and turns it into the
 * stream every long call returns: progress messages (at most one per
 * `intervalMs`, plus each phase's last, and the latest again every
 * HEARTBEAT_MS while nothing new comes, "queued" while the job waits in
 * line), then the result.
 */
export async function* streamJob<Result>(
  queue: JobQueue,
  context: CallContext,
  job: (report: (progress: ProgressUpdate) => void) => Promise<Result>,
  intervalMs = 250,
): AsyncGenerator<{ event: { case: "progress"; value: ProgressMessage } | { case: "result"; value: Result } }> {
  const pending: ProgressUpdate[] = [];
  let wake: (() => void) | undefined;
  let lastSent = 0;
  let latest: ProgressUpdate = { step: 0, total: 0, phase: "queued", metrics: { jobs_ahead: queue.depth } };
  const send = (progress: ProgressUpdate) => {
    lastSent = Date.now();
    pending.push(progress);
    wake?.();
  };
  const report = (progress: ProgressUpdate) => {
    latest = progress;
    const lastOfPhase = progress.step >= progress.total;
    if (lastOfPhase || Date.now() - lastSent >= intervalMs) send(progress);
  };
  const heartbeat = setInterval(() => Date.now() - lastSent >= HEARTBEAT_MS && send(latest), 1000);
  let finished = false;
  const running = queue
    .run(context.signal, () => {
      report({ step: 0, total: 0, phase: "started" });
      return job(report);
    })
    .finally(() => {
      finished = true;
      clearInterval(heartbeat);
      wake?.();
    });
  running.catch(() => {}); // observed below; keeps an early failure from being reported as unhandled
  if (queue.depth > 1) send(latest); // waiting in line: say so at once
  while (!finished || pending.length > 0) {
    if (pending.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    while (pending.length > 0) {
      const { step, total, phase, metrics = {} } = pending.shift()!;
      yield { event: { case: "progress", value: { step: BigInt(step), total: BigInt(total), phase, metrics } } };
    }
  }
  yield { event: { case: "result", value: await running } };
}
