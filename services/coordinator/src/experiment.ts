import { createHash } from "node:crypto";
import { create, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { ExperimentEventSchema, RunState, type ExperimentEvent, type ExperimentSpec, type Progress } from "@gap/proto";
import { setTimeout as sleep } from "node:timers/promises";
import { isBusy, isTransient, type Logger } from "@gap/service-kit";
import type { ArtifactStore } from "@gap/artifacts";
import type { Step } from "./graph.js";
import { STEP_KINDS, toOutput, type StepOutput } from "./step-kinds.js";
import type { StepCaller } from "./clients.js";
import { STORE_LAYOUT } from "./layout.js";
import { chainLengths, nextStep } from "./schedule.js";

/** A stored JSON record whose bytes fail their sha256 or do not parse: a write cut short (e.g. by a kill). */
export const isTornRecord = (error: unknown): boolean => (error as Error).name === "ArtifactIntegrityError" || error instanceof SyntaxError;

/**
 * How a step's failed calls are retried: transient failures (the server went
 * away or went silent) with exponential backoff and jitter until `budgetMs` of
 * failing is spent; a busy service (RESOURCE_EXHAUSTED) is waited for without
 * spending the budget.
 */
export interface RetryPolicy {
  budgetMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { budgetMs: 600_000, initialDelayMs: 500, maxDelayMs: 15_000 };

/** A delay drawn from [ceiling / 2, ceiling): replicas restarting together are not all called at once. */
const jittered = (ceiling: number) => ceiling / 2 + Math.random() * (ceiling / 2);

export interface ExperimentDeps {
  store: ArtifactStore;
  call: StepCaller;
  concurrency: number;
  retry: RetryPolicy;
  log: Logger;
  /** Called after finished steps (persists state and results); never two calls at once, the last after the run ends. */
  onStepDone?: (experiment: Experiment) => Promise<void>;
}

const FINISHED = new Set([RunState.SUCCEEDED, RunState.CACHED]);
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/**
 * One experiment's run over its step graph. Each step's output is stored
 * under a key derived from the hash of its request (which holds the hashes
 * of its inputs), so a restarted run finds finished steps and skips them.
 */
export class Experiment {
  /** Finished steps' outputs, and the graph's inputs (given base weights). */
  readonly outputs: Map<string, StepOutput>;
  readonly states = new Map<string, RunState>();
  readonly events: ExperimentEvent[] = [];
  private readonly listeners = new Set<(event: ExperimentEvent) => void>();
  private readonly controller = new AbortController();
  state: RunState = RunState.PENDING;
  error = "";
  private done?: Promise<void>;
  /** The state write under way (persistSoon), and whether a step finished since it began. */
  private persisting?: Promise<void>;
  private persistWanted = false;

  constructor(
    readonly id: string,
    readonly spec: ExperimentSpec,
    readonly steps: readonly Step[],
    private readonly deps: ExperimentDeps,
    private readonly inputs: ReadonlyMap<string, StepOutput> = new Map(),
  ) {
    this.outputs = new Map(inputs);
    for (const step of steps) this.states.set(step.id, RunState.PENDING);
  }

  private isAvailable(id: string): boolean {
    return this.inputs.has(id) || FINISHED.has(this.states.get(id)!);
  }

  get stepsDone(): number {
    return [...this.states.values()].filter((s) => FINISHED.has(s)).length;
  }

  get finished(): boolean {
    return [RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED].includes(this.state);
  }

  /** Calls `listener` with every event so far, then with each new one. Returns the unsubscribe function. */
  subscribe(listener: (event: ExperimentEvent) => void): () => void {
    for (const event of this.events) listener(event);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): Promise<void> {
    return (this.done ??= this.run());
  }

  cancel(): void {
    if (this.finished) return;
    this.controller.abort(new Error("experiment cancelled"));
  }

  private emit(stepId: string, state: RunState, extra: { progress?: Progress; message?: string } = {}) {
    const event = create(ExperimentEventSchema, {
      experimentId: this.id,
      time: timestampNow(),
      stepId,
      state,
      progress: extra.progress,
      message: extra.message ?? "",
      stepsDone: this.stepsDone,
      stepsTotal: this.steps.length,
    });
    // Progress is only streamed live; state changes are kept for replay.
    if (state !== RunState.RUNNING || !extra.progress) this.events.push(event);
    for (const listener of this.listeners) listener(event);
  }

  private async run(): Promise<void> {
    this.state = RunState.RUNNING;
    this.emit("", RunState.RUNNING, { message: `${this.steps.length} steps` });
    // A step holds one of `concurrency` slots while its service computes; writing its
    // record afterwards does not (see runStep), so `running` can outnumber the slots.
    const running = new Map<string, Promise<void>>();
    let computing = 0;
    let slotFreed = () => {};
    const runningPerService = new Map<string, number>();
    const count = (step: Step, change: number) => {
      const service = STEP_KINDS[step.kind].service;
      runningPerService.set(service, (runningPerService.get(service) ?? 0) + change);
      computing += change;
    };
    const chains = chainLengths(this.steps);
    let pending = [...this.steps];
    const failed = new Set<string>();
    while (pending.length > 0 || running.size > 0) {
      if (!this.controller.signal.aborted) {
        // In graph order, so a failure reaches every step after it in one pass.
        for (const step of pending) if (step.deps.some((d) => failed.has(d))) failed.add(step.id);
        pending = pending.filter((step) => !failed.has(step.id));
        while (computing < this.deps.concurrency) {
          const step = nextStep(pending.filter((s) => s.deps.every((d) => this.isAvailable(d))), runningPerService, chains);
          if (!step) break;
          pending = pending.filter((s) => s !== step);
          count(step, 1);
          let holdsSlot = true;
          const freeSlot = () => {
            if (!holdsSlot) return;
            holdsSlot = false;
            count(step, -1);
            slotFreed();
          };
          running.set(
            step.id,
            this.runStep(step, freeSlot)
              .catch((error: Error) => {
                failed.add(step.id);
                const cancelled = this.controller.signal.aborted;
                this.states.set(step.id, cancelled ? RunState.CANCELLED : RunState.FAILED);
                if (!cancelled && !this.error) this.error = `${step.id}: ${error.message}`;
                this.emit(step.id, cancelled ? RunState.CANCELLED : RunState.FAILED, { message: error.message });
              })
              .finally(() => {
                running.delete(step.id);
                freeSlot();
              }),
          );
        }
      }
      if (running.size === 0) break;
      await Promise.race([...running.values(), new Promise<void>((resolve) => (slotFreed = resolve))]);
      this.persistSoon();
    }
    // SUCCEEDED only when every step of the graph succeeded or was cached, whatever else happened.
    const unfinished = this.steps.filter((step) => !FINISHED.has(this.states.get(step.id)!));
    this.state = unfinished.length === 0 ? RunState.SUCCEEDED : this.controller.signal.aborted ? RunState.CANCELLED : RunState.FAILED;
    const notRun = `${unfinished.length} of ${this.steps.length} steps did not finish`;
    const message = { [RunState.SUCCEEDED]: "done", [RunState.CANCELLED]: `cancelled: ${notRun}` }[this.state as number] ?? `${this.error || "stopped"}; ${notRun}`;
    this.emit("", this.state, { message });
    await this.persisting;
    await this.persist();
    this.listeners.clear();
  }

  private persist(): Promise<void> {
    return this.deps.onStepDone?.(this).catch((error) => this.deps.log.error("cannot persist experiment state", { error })) ?? Promise.resolve();
  }

  /**
   * Persists the state after a finished step without holding up the next dispatch (two
   * store writes, ~12 ms a step in the quick preset's 259): one write at a time, and the
   * steps that finish meanwhile are covered by one more write of the latest state.
   */
  private persistSoon(): void {
    this.persistWanted = true;
    this.persisting ??= (async () => {
      while (this.persistWanted) {
        this.persistWanted = false;
        await this.persist();
      }
      this.persisting = undefined;
    })();
  }

  /** Runs one step; `freeSlot` when its service has answered, before its record is written. */
  private async runStep(step: Step, freeSlot: () => void): Promise<void> {
    const kind = STEP_KINDS[step.kind];
    const request = create(kind.request as DescMessage, step.request(this.outputs) as never);
    const hash = sha256(toBinary(kind.request as DescMessage, request));
    const cacheKey = STORE_LAYOUT.stepRecord(step.kind, hash);
    const cached = await this.cachedOutput(step, cacheKey);
    if (cached) {
      this.outputs.set(step.id, cached);
      this.states.set(step.id, RunState.CACHED);
      this.emit(step.id, RunState.CACHED);
      return;
    }
    (request as { outputKey?: string }).outputKey = STORE_LAYOUT.stepOutput(step.kind, hash, kind.extension);
    this.states.set(step.id, RunState.RUNNING);
    this.emit(step.id, RunState.RUNNING);
    let heard = 0;
    const { output, result } = await this.withRetries(
      step,
      () =>
        this.deps.call(step.kind, request as never, {
          signal: this.controller.signal,
          onProgress: (progress) => {
            heard = Date.now();
            this.emit(step.id, RunState.RUNNING, { progress });
          },
        }),
      () => heard,
    );
    // The record is the step's cache entry, not compute: the next step need not wait for it
    // (a few ms a step on a local disk, more on a remote store). Dependents still do.
    freeSlot();
    const json = JSON.stringify(toJson(kind.result as DescMessage, result as never));
    await this.deps.store.put(cacheKey, new TextEncoder().encode(json), { contentType: "application/json" });
    this.outputs.set(step.id, output);
    this.states.set(step.id, RunState.SUCCEEDED);
    this.emit(step.id, RunState.SUCCEEDED);
  }

  /**
   * A stored step's output, or undefined when the step must run: no record,
   * or a record or output artifact that is missing or fails its sha256 (then
   * the step runs again, with one warning event; dependents whose inputs come
   * out different are recomputed by their own hashes).
   */
  private async cachedOutput(step: Step, cacheKey: string): Promise<StepOutput | undefined> {
    if (!(await this.deps.store.exists(cacheKey))) return undefined;
    try {
      const json = JSON.parse(new TextDecoder().decode(await this.deps.store.get(cacheKey))) as JsonValue;
      const output = toOutput(step.kind, fromJson(STEP_KINDS[step.kind].result as DescMessage, json));
      if (output.artifact) await this.deps.store.get(output.artifact); // verifies its sha256 and size
      return output;
    } catch (error) {
      if ((error as Error).name !== "ArtifactNotFoundError" && !isTornRecord(error)) throw error;
      const message = `stored result unusable (${(error as Error).message}); recomputing`;
      this.deps.log.warn("recomputing a cached step", { step: step.id, error: (error as Error).message });
      this.emit(step.id, RunState.PENDING, { message });
      await this.deps.store.delete(cacheKey);
      return undefined;
    }
  }

  /**
   * Transient failures are retried with backoff and jitter until the budget of
   * failing time is spent; a busy service is waited for without spending it.
   * Failing time runs from the last message of the call (`heard`): an attempt
   * that streamed progress until it was cut (a long step ended by a shutdown or
   * by the call timeout, resuming from its checkpoint) starts the count afresh.
   */
  private async withRetries<T>(step: Step, call: () => Promise<T>, heard: () => number = () => 0): Promise<T> {
    const { budgetMs, initialDelayMs, maxDelayMs } = this.deps.retry;
    let failingMs = 0;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      try {
        return await call();
      } catch (error) {
        const busy = isBusy(error);
        if (this.controller.signal.aborted || !(isTransient(error) || busy)) throw error;
        const delay = jittered(Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 20)));
        if (heard() > started) failingMs = 0;
        if (!busy) failingMs += Date.now() - Math.max(started, heard()) + delay;
        if (failingMs > budgetMs) throw new Error(`${(error as Error).message} (retried for ${Math.round(failingMs / 1000)} s, the budget)`);
        const what = busy ? "busy, waiting in line" : "retrying";
        this.deps.log.warn(busy ? "service busy; waiting" : "retrying step", { step: step.id, attempt, delayMs: Math.round(delay), error: (error as Error).message });
        this.emit(step.id, RunState.RUNNING, { message: `${what} (attempt ${attempt + 1} in ${(delay / 1000).toFixed(1)} s): ${(error as Error).message}` });
        await sleep(delay, undefined, { signal: this.controller.signal }).catch(() => undefined);
      }
    }
  }
}
