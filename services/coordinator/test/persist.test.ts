// The experiment's state is written after steps finish, but the writes do not hold up the
// next dispatch: one write at a time, and the last one after the run, with the final state.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { EvaluationResultSchema, ExperimentSpecSchema, RunState } from "@gap/proto";
import { createArtifactStore } from "@gap/artifacts";
import { createLogger } from "@gap/service-kit";
import { Experiment } from "../src/experiment.js";
import type { StepCaller } from "../src/clients.js";
import { toOutput } from "../src/step-kinds.js";
import type { Step } from "../src/graph.js";

const dir = mkdtempSync(join(tmpdir(), "gap-persist-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("dispatches steps while the state is being written, writes one at a time and the final state last", async () => {
  const STEPS = 4;
  const WRITE_MS = 1000;
  // A chain: each step needs the one before, so every dispatch waits for a finished step.
  const steps: Step<"evaluate">[] = Array.from({ length: STEPS }, (_, i) => ({
    id: `m/evaluate-${i}`,
    kind: "evaluate",
    deps: i === 0 ? [] : [`m/evaluate-${i - 1}`],
    request: () => ({ batchSize: i + 1 }),
    fills: [],
  }));
  const called: number[] = [];
  const call: StepCaller = async () => {
    called.push(performance.now());
    await sleep(5);
    const result = create(EvaluationResultSchema, { correct: 1n, total: 2n });
    return { output: toOutput("evaluate", result), result };
  };
  let writing = 0;
  let overlapped = false;
  const written: Array<{ done: number; state: RunState }> = [];
  const experiment = new Experiment("persist", create(ExperimentSpecSchema, {}), steps as unknown as Step[], {
    store: createArtifactStore({ GAP_STORE_DIR: dir }),
    call,
    concurrency: 1,
    retry: { budgetMs: 1000, initialDelayMs: 1, maxDelayMs: 1 },
    log: createLogger({}, "error"),
    onStepDone: async (e) => {
      if (writing++ > 0) overlapped = true;
      const snapshot = { done: e.stepsDone, state: e.state };
      await sleep(WRITE_MS);
      written.push(snapshot);
      writing--;
    },
  });
  const started = performance.now();
  await experiment.start();

  expect(experiment.state).toBe(RunState.SUCCEEDED);
  expect(called).toHaveLength(STEPS);
  // Blocking writes would space the dispatches WRITE_MS apart: all of them came within one write.
  expect(called[STEPS - 1]! - started).toBeLessThan(WRITE_MS);
  expect(overlapped).toBe(false);
  // Steps finishing during a write are covered by one more write, not one each.
  expect(written.length).toBeLessThan(STEPS);
  expect(written.at(-1)).toEqual({ done: STEPS, state: RunState.SUCCEEDED });
});

it("starts the next step while a finished step's record is written; its dependents wait for the record", async () => {
  const RECORD_MS = 500;
  const local = createArtifactStore({ GAP_STORE_DIR: join(dir, "records") });
  // Step records (steps/...) take RECORD_MS to write; everything else as the store does.
  const store = new Proxy(local, {
    get(target, property, receiver) {
      if (property !== "put") return Reflect.get(target, property, receiver);
      return async (...args: Parameters<typeof local.put>) => {
        if (args[0].startsWith("steps/")) await sleep(RECORD_MS);
        return target.put(...args);
      };
    },
  });
  // a and b are independent; c needs a. With one slot, a starts first (the longer chain).
  const step = (name: string, deps: string[], batchSize: number): Step<"evaluate"> => ({ id: `m/${name}`, kind: "evaluate", deps, request: () => ({ batchSize }), fills: [] });
  const steps = [step("a", [], 1), step("b", [], 2), step("c", ["m/a"], 3)];
  const called = new Map<number, number>();
  let aAnswered = 0;
  const call: StepCaller = async (_kind, request) => {
    const batchSize = (request as { batchSize: number }).batchSize;
    called.set(batchSize, performance.now());
    await sleep(5);
    if (batchSize === 1) aAnswered = performance.now();
    const result = create(EvaluationResultSchema, { correct: 1n, total: 2n });
    return { output: toOutput("evaluate", result), result };
  };
  const experiment = new Experiment("records", create(ExperimentSpecSchema, {}), steps as unknown as Step[], {
    store,
    call,
    concurrency: 1,
    retry: { budgetMs: 1000, initialDelayMs: 1, maxDelayMs: 1 },
    log: createLogger({}, "error"),
  });
  await experiment.start();

  expect(experiment.state).toBe(RunState.SUCCEEDED);
  expect([...called.keys()]).toEqual([1, 2, 3]);
  // b did not wait for a's record; c, which reads a's output, did.
  expect(called.get(2)! - aAnswered).toBeLessThan(RECORD_MS / 2);
  expect(called.get(3)! - aAnswered).toBeGreaterThanOrEqual(RECORD_MS - 5);
  // Every step's record was written before the experiment finished.
  expect((await local.list("steps/")).filter((k) => k.endsWith(".json"))).toHaveLength(3);
});
