import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  ArtifactKind,
  CoordinatorService,
  ExperimentSpecSchema,
  GetReportResponseSchema,
  GetResultsResponseSchema,
  ResultRowSchema,
  RunState,
  type ExperimentEvent,
  type ExperimentSpec,
} from "@gap/proto";
import { implement, metrics, nonEmptyString, notFound, type Logger } from "@gap/service-kit";
import type { ArtifactInfo, ArtifactRefLike, ArtifactStore } from "@gap/artifacts";
import { artifactRef } from "@gap/compute/no-tf";
import { buildGraph, graphInputs } from "./graph.js";
import { resolveBaseWeights } from "./base-weights.js";
import { STORE_LAYOUT } from "./layout.js";
import { DEFAULT_RETRY, Experiment, isTornRecord, type RetryPolicy } from "./experiment.js";
import type { StepCaller, WeightsChecker } from "./clients.js";
import { resultRows } from "./results.js";
import { reportKey, reportPrefix, writeReport } from "./report.js";
import { experimentId, validateSpec } from "./spec.js";

export interface CoordinatorDeps {
  store: ArtifactStore;
  call: StepCaller;
  checkWeights: WeightsChecker;
  log: Logger;
  concurrency: number;
  retry?: RetryPolicy;
}

interface Status {
  name: string;
  state: RunState;
  stepsDone: number;
  stepsTotal: number;
  error: string;
}

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2));
const decode = <T>(bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as T;
const prefix = STORE_LAYOUT.experiment;

/**
 * Keeps experiments: their spec, state and results live in the store, so a
 * restarted coordinator lists them and resumes those that were running.
 */
export class Coordinator {
  private readonly experiments = new Map<string, Experiment>();
  /** The report each finished experiment got when it ended. */
  private readonly finalReports = new Map<string, Promise<ArtifactRefLike[]>>();

  constructor(private readonly deps: CoordinatorDeps) {}

  /** Starts (or resumes) a validated spec; its base weights are checked first (by the training service). */
  async start(validated: ExperimentSpec): Promise<Experiment> {
    const spec = await resolveBaseWeights(this.deps.checkWeights, validated);
    const id = experimentId(spec);
    const current = this.experiments.get(id);
    if (current && !current.finished) return current;
    const experiment = new Experiment(id, spec, buildGraph(spec), {
      store: this.deps.store,
      call: this.deps.call,
      concurrency: this.deps.concurrency,
      retry: this.deps.retry ?? DEFAULT_RETRY,
      log: this.deps.log.child({ experiment: id }),
      onStepDone: (e) => this.persist(e),
    }, graphInputs(spec));
    this.experiments.set(id, experiment);
    this.countEvents(experiment);
    await this.deps.store.put(`${prefix(id)}/spec.json`, encode(toJson(ExperimentSpecSchema, spec)), { contentType: "application/json" });
    await this.persist(experiment);
    this.finalReports.delete(id);
    void experiment.start().then(() =>
      this.finalReport(experiment).then(
        (files) => this.deps.log.info("report written", { experiment: id, key: files[0]!.key }),
        (error) => this.deps.log.error("cannot write the report", { experiment: id, error }),
      ),
    );
    this.deps.log.info("experiment started", { experiment: id, steps: experiment.steps.length });
    return experiment;
  }

  /**
   * Feeds the experiment's state changes (not its progress) to the process's
   * metrics: gap_steps_total by step kind and state, gap_experiments_total by
   * state, and gap_experiments (those held now, by state).
   */
  private countEvents(experiment: Experiment): void {
    const kinds = new Map(experiment.steps.map((step) => [step.id, step.kind]));
    experiment.subscribe((event) => {
      if (event.progress) return;
      const state = RunState[event.state].toLowerCase();
      if (event.stepId !== "") {
        metrics.steps.inc({ kind: kinds.get(event.stepId) ?? "input", state });
        return;
      }
      metrics.experiments.inc({ state });
      metrics.experimentsByState.reset();
      for (const e of this.experiments.values()) metrics.experimentsByState.inc({ state: RunState[e.state].toLowerCase() });
    });
  }

  /** Resumes every stored experiment that was running when the last coordinator stopped. */
  async resumeRunning(): Promise<string[]> {
    const resumed: string[] = [];
    for (const id of await this.storedIds()) {
      // Killed while writing it, a coordinator can leave the status torn (an S3 server may keep
      // a cut-off PUT). It was most likely running: resume; finished steps come from their records.
      const status = await this.status(id).catch((error: Error) => {
        if (!isTornRecord(error)) throw error;
        this.deps.log.warn("experiment status unreadable; resuming from its spec", { experiment: id, error: error.message });
        return "torn" as const;
      });
      if (status !== "torn" && status?.state !== RunState.RUNNING && status?.state !== RunState.PENDING) continue;
      const spec = fromJson(ExperimentSpecSchema, decode<JsonValue>(await this.deps.store.get(`${prefix(id)}/spec.json`)));
      await this.start(spec);
      resumed.push(id);
    }
    return resumed;
  }

  get(id: string): Experiment {
    nonEmptyString(id, "experiment_id", 200);
    const experiment = this.experiments.get(id);
    if (!experiment) throw notFound(`no experiment "${id}" is running in this coordinator`);
    return experiment;
  }

  async results(id: string) {
    nonEmptyString(id, "experiment_id", 200);
    const experiment = this.experiments.get(id);
    const key = `${prefix(id)}/results.json`;
    if (experiment) {
      return { state: experiment.state, rows: resultRows(experiment.steps, experiment.outputs), stored: await this.deps.store.stat(key) };
    }
    const status = await this.status(id);
    if (!status) throw notFound(`no experiment "${id}"`);
    const rows = decode<JsonValue[]>(await this.deps.store.get(key)).map((row) => fromJson(ResultRowSchema, row));
    return { state: status.state, rows, stored: await this.deps.store.stat(key) };
  }

  /**
   * The experiment's report files, the HTML page first: written now from the
   * results so far while it runs, the one written when it ended afterwards.
   */
  async report(id: string): Promise<{ state: RunState; files: ArtifactRefLike[] }> {
    nonEmptyString(id, "experiment_id", 200);
    const experiment = this.experiments.get(id);
    if (experiment) {
      const files = experiment.finished ? this.finalReport(experiment) : writeReport(this.deps.store, experiment);
      return { state: experiment.state, files: await files };
    }
    const status = await this.status(id);
    if (!status) throw notFound(`no experiment "${id}"`);
    const keys = await this.deps.store.list(`${reportPrefix(id)}/`);
    if (!keys.includes(reportKey(id))) throw notFound(`experiment "${id}" has no stored report; it is written when the experiment ends in a running coordinator`);
    const files = (await Promise.all(keys.map((key) => this.deps.store.stat(key)))).filter((f): f is ArtifactInfo => f !== undefined);
    return { state: status.state, files: files.sort((a, b) => Number(b.key === reportKey(id)) - Number(a.key === reportKey(id))) };
  }

  /** Written once per finished experiment, whoever asks first. */
  private finalReport(experiment: Experiment): Promise<ArtifactRefLike[]> {
    let report = this.finalReports.get(experiment.id);
    if (!report) {
      report = writeReport(this.deps.store, experiment);
      this.finalReports.set(experiment.id, report);
      report.catch(() => this.finalReports.delete(experiment.id)); // a later call tries again
    }
    return report;
  }

  async list() {
    const ids = new Set([...(await this.storedIds()), ...this.experiments.keys()]);
    const summaries = [];
    for (const id of ids) {
      const live = this.experiments.get(id);
      const status = live ? this.statusOf(live) : await this.status(id);
      if (status) summaries.push({ experimentId: id, name: status.name, state: status.state, stepsDone: status.stepsDone, stepsTotal: status.stepsTotal });
    }
    return summaries;
  }

  private statusOf(e: Experiment): Status {
    return { name: e.spec.name, state: e.state, stepsDone: e.stepsDone, stepsTotal: e.steps.length, error: e.error };
  }

  private async storedIds(): Promise<string[]> {
    const keys = await this.deps.store.list(STORE_LAYOUT.experiments);
    return [...new Set(keys.filter((k) => k.endsWith("/status.json")).map((k) => k.split("/")[1]!))];
  }

  private async status(id: string): Promise<Status | undefined> {
    const key = `${prefix(id)}/status.json`;
    if (!(await this.deps.store.exists(key))) return undefined;
    return decode<Status>(await this.deps.store.get(key));
  }

  private async persist(experiment: Experiment): Promise<void> {
    const rows = resultRows(experiment.steps, experiment.outputs).map((row) => toJson(ResultRowSchema, row));
    await this.deps.store.put(`${prefix(experiment.id)}/results.json`, encode(rows), { contentType: "application/json" });
    await this.deps.store.put(`${prefix(experiment.id)}/status.json`, encode(this.statusOf(experiment)), { contentType: "application/json" });
  }
}

export function coordinatorService(coordinator: Coordinator) {
  return implement(CoordinatorService, {
    async startExperiment(request) {
      const experiment = await coordinator.start(validateSpec(request.spec));
      return { experimentId: experiment.id, totalSteps: experiment.steps.length };
    },
    async *watchExperiment(request, { signal }) {
      const experiment = coordinator.get(request.experimentId);
      const queue: ExperimentEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = experiment.subscribe((event) => {
        queue.push(event);
        wake?.();
      });
      const onAbort = () => wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        while (!signal.aborted) {
          if (queue.length === 0) {
            if (experiment.finished) return;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
          while (queue.length > 0) yield queue.shift()!;
        }
      } finally {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
      }
    },
    async getResults(request) {
      const { state, rows, stored } = await coordinator.results(request.experimentId);
      return create(GetResultsResponseSchema, {
        state,
        rows,
        results: stored ? artifactRef(stored, ArtifactKind.REPORT) : undefined,
      });
    },
    async getReport(request) {
      const { state, files } = await coordinator.report(request.experimentId);
      const refs = files.map((file) => artifactRef(file, ArtifactKind.REPORT));
      return create(GetReportResponseSchema, { state, report: refs[0], files: refs });
    },
    async listExperiments() {
      return { experiments: await coordinator.list() };
    },
    async cancelExperiment(request) {
      const experiment = coordinator.get(request.experimentId);
      experiment.cancel();
      return { state: experiment.finished ? experiment.state : RunState.CANCELLED };
    },
  });
}
