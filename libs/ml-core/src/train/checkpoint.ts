/**
 * Where a long job keeps its progress, so that a retried or resumed call
 * continues from it instead of starting over. The job decides what a state
 * holds; whoever runs the job decides where it lives (the store, keyed by the
 * step's request).
 */
export interface Checkpoints {
  /** The last saved state, if any. */
  load(): Promise<Uint8Array | undefined>;
  save(state: Uint8Array): Promise<void>;
}

/** Saves at most once per interval (jobs whose units are too small to save after each). */
export function everyMs(intervalMs: number, now = () => Date.now()): () => boolean {
  let last = now();
  return () => {
    if (now() - last < intervalMs) return false;
    last = now();
    return true;
  };
}
