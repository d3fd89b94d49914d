import { setTimeout as sleep } from "node:timers/promises";
import { StoreUnavailableError } from "./errors.js";

/** How long store calls are retried through connection failures and server errors, and how they back off. */
export interface StoreRetryPolicy {
  totalMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}
export const DEFAULT_STORE_RETRY: StoreRetryPolicy = { totalMs: 60_000, initialDelayMs: 200, maxDelayMs: 5_000 };

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_SOCKET"]);
const SERVER_CODES = new Set(["InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed"]);

/** A failure that a later attempt may not have: the connection, a timeout, or a 5xx from the server. */
export function isTransientStoreError(error: unknown): boolean {
  const e = error as { code?: string; statusCode?: number; message?: string; cause?: unknown } | undefined;
  if (!e) return false;
  if (e.code && (NETWORK_CODES.has(e.code) || SERVER_CODES.has(e.code))) return true;
  if (typeof e.statusCode === "number" && e.statusCode >= 500) return true;
  if (/socket hang up|Retryable HTTP status: 5\d\d|other side closed|timed? ?out/i.test(e.message ?? "")) return true;
  return e.cause !== undefined && e.cause !== error && isTransientStoreError(e.cause);
}

/**
 * Runs a store call, retrying transient failures with exponential backoff and
 * jitter until the policy's time is spent; then StoreUnavailableError.
 */
export async function withStoreRetries<T>(bucket: string, key: string, call: () => Promise<T>, policy = DEFAULT_STORE_RETRY): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransientStoreError(error)) throw error;
      const spent = Date.now() - started;
      if (spent >= policy.totalMs) {
        throw new StoreUnavailableError(bucket, key, `${(error as Error).message} (${attempt} attempts over ${(spent / 1000).toFixed(1)} s)`, { cause: error });
      }
      const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      await sleep(Math.min(ceiling / 2 + Math.random() * (ceiling / 2), policy.totalMs - spent));
    }
  }
}
