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

/**
 * Runs a compute job through the service's queue and turns it into the
 * stream every long call returns: progress messages (at most one per
 * `intervalMs`, plus each phase's last), then the result.
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
  const report = (progress: ProgressUpdate) => {
    const now = Date.now();
    const lastOfPhase = progress.step >= progress.total;
    if (!lastOfPhase && now - lastSent < intervalMs) return;
    lastSent = now;
    pending.push(progress);
    wake?.();
  };
  let finished = false;
  const running = queue
    .run(context.signal, () => job(report))
    .finally(() => {
      finished = true;
      wake?.();
    });
  running.catch(() => {}); // observed below; keeps an early failure from being reported as unhandled
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
