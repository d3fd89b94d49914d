// The retry budget counts failing time, not working time: a call that streamed progress
// until it was cut (a shutdown, the call timeout of GAP_CALL_TIMEOUT_MS) is retried with
// the budget afresh, however long it ran; a call that failed in silence spends it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { EvaluationResultSchema, ExperimentSpecSchema, ProgressSchema, RunState } from "@gap/proto";
import { createArtifactStore } from "@gap/artifacts";
import { createLogger, ServiceError, status } from "@gap/service-kit";
import { Experiment } from "../src/experiment.js";
import { type StepCaller } from "../src/clients.js";
import { toOutput } from "../src/step-kinds.js";
import type { Step } from "../src/graph.js";

const dir = mkdtempSync(join(tmpdir(), "gap-retries-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BUDGET_MS = 300;
const step: Step<"evaluate"> = { id: "m/evaluate", kind: "evaluate", deps: [], request: () => ({ batchSize: 1 }), fills: [] };

/** One experiment of one step whose first call runs `firstMs`, with or without progress, then is cut UNAVAILABLE; the second succeeds. */
async function runWithCut(firstMs: number, progress: boolean) {
  let attempts = 0;
  const call: StepCaller = async (_kind, _request, options) => {
    attempts++;
    if (attempts === 1) {
      for (let t = 0; t < firstMs; t += 20) {
        if (progress) options.onProgress?.(create(ProgressSchema, { step: BigInt(t), total: BigInt(firstMs), phase: "evaluate" }));
        await sleep(20);
      }
      throw new ServiceError(status.UNAVAILABLE, "server shutting down; the call may be retried");
    }
    const result = create(EvaluationResultSchema, { correct: 1n, total: 2n });
    return { output: toOutput("evaluate", result), result };
  };
  const experiment = new Experiment(`retries-${firstMs}-${progress}`, create(ExperimentSpecSchema, {}), [step], {
    store: createArtifactStore({ GAP_STORE_DIR: join(dir, `${firstMs}-${progress}`) }),
    call,
    concurrency: 1,
    retry: { budgetMs: BUDGET_MS, initialDelayMs: 1, maxDelayMs: 1 },
    log: createLogger({}, "error"),
  });
  await experiment.start();
  return { experiment, attempts };
}

describe("retry budget", () => {
  it("retries a call cut after streaming progress for longer than the budget, and the step succeeds", async () => {
    const { experiment, attempts } = await runWithCut(4 * BUDGET_MS, true);
    expect(attempts).toBe(2);
    expect(experiment.state).toBe(RunState.SUCCEEDED);
  });

  it("gives up on a call that failed after as long in silence", async () => {
    const { experiment, attempts } = await runWithCut(4 * BUDGET_MS, false);
    expect(attempts).toBe(1);
    expect(experiment.state).toBe(RunState.FAILED);
    expect(experiment.error).toMatch(/server shutting down.*the budget/);
  });
});
