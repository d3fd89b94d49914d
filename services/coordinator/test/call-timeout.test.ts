// GAP_CALL_TIMEOUT_MS over real gRPC: the coordinator ends a step call that streams
// progress past the limit itself, with DEADLINE_EXCEEDED, which its retries treat as
// transient (the step resumes from its checkpoint on the next call).
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { EvaluationService } from "@gap/proto";
import { implement, isTransient, status } from "@gap/service-kit";
import { createStepCaller } from "../src/clients.js";
import { oneServer } from "./one-server.js";

let cancelled = 0;

const server = oneServer("evaluation", [
  implement(EvaluationService, {
    // A long step: progress every 50 ms, never done.
    async *evaluate(_request, { signal }) {
      for (let step = 0n; !signal.aborted; step++) {
        yield { event: { case: "progress", value: { step, total: 1_000_000n, phase: "evaluate", metrics: {} } } };
        await sleep(50);
      }
      cancelled++;
    },
  }),
]);

describe("the call timeout", () => {
  it("ends a call still streaming after GAP_CALL_TIMEOUT_MS with DEADLINE_EXCEEDED, a transient error, and the server's job is cancelled", async () => {
    const caller = createStepCaller(server.addresses, { silenceLimitMs: 60_000, callTimeoutMs: 500 });
    let messages = 0;
    const started = Date.now();
    const error = await caller.call("evaluate", {}, { onProgress: () => messages++ }).then(
      () => undefined,
      (e: { code?: number }) => e,
    );
    const ran = Date.now() - started;
    caller.close();
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(isTransient(error)).toBe(true);
    expect(messages).toBeGreaterThan(3);
    expect(ran).toBeGreaterThanOrEqual(450);
    expect(ran).toBeLessThan(5_000);
    await sleep(200);
    expect(cancelled).toBe(1);
  });
});
