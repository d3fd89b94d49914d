import { cancelled, resourceExhausted } from "./errors.js";
import { metrics } from "./metrics.js";

/**
 * Runs one compute job at a time. Up to `limit` more wait in line; beyond
 * that a job is refused at once (RESOURCE_EXHAUSTED) instead of piling up.
 * A waiting job whose call is cancelled leaves the line. The process's
 * gap_jobs_running and gap_jobs_queued gauges follow every queue.
 */
export class JobQueue {
  private running = false;
  private readonly waiting: Array<{ start: () => void; signal: AbortSignal }> = [];

  constructor(private readonly limit: number) {}

  get depth(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  async run<T>(signal: AbortSignal, job: () => Promise<T>): Promise<T> {
    if (this.running) {
      if (this.waiting.length >= this.limit) {
        throw resourceExhausted(`busy: one job running and ${this.waiting.length} waiting (limit ${this.limit})`);
      }
      metrics.jobsQueued.inc();
      try {
        await new Promise<void>((resolve, reject) => {
          const entry = { start: resolve, signal };
          this.waiting.push(entry);
          signal.addEventListener(
            "abort",
            () => {
              const index = this.waiting.indexOf(entry);
              if (index >= 0) this.waiting.splice(index, 1);
              reject(cancelled("cancelled while waiting for the running job"));
            },
            { once: true },
          );
        });
      } finally {
        metrics.jobsQueued.dec();
      }
    }
    this.running = true;
    metrics.jobsRunning.inc();
    try {
      return await job();
    } finally {
      this.running = false;
      metrics.jobsRunning.dec();
      this.waiting.shift()?.start();
    }
  }
}
