/** Lets timers and I/O run (health checks, cancellation) between compute steps. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Long jobs call this between steps; the error's name maps to gRPC CANCELLED. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const error = new Error(signal.reason instanceof Error ? signal.reason.message : "aborted");
  error.name = "AbortError";
  throw error;
}
