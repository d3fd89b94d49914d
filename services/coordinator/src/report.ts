import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ExperimentSpecSchema, PruningScope, PruningStrategy, RunState, type Accuracy, type ExperimentEvent, type ExperimentSpec, type JobInfo, type PruneRequest, type ResultRow } from "@gap/proto";
import type { ArtifactRefLike, ArtifactStore } from "@gap/artifacts";
import { decodeSafetensors } from "@gap/ml-core/no-tf";
import { maskOverlap, weightHistogram } from "@gap/algorithms/no-tf";
import { ARCHITECTURE_NAMES, SCOPE_NAMES, STRATEGY_NAMES } from "@gap/compute/no-tf";
import { buildReport, REPORT_PAGE, type HistogramSeries, type MaskDisjointness, type OverlapCell, type ReportRow, type Table, type TrainingCurve } from "@gap/reports";
import type { Step } from "./graph.js";
import type { StepOutput } from "./step-kinds.js";
import { resultRows } from "./results.js";
import { STORE_LAYOUT } from "./layout.js";

/** What a report is made from: an experiment's graph, its finished outputs and its events. */
export interface ReportSource {
  id: string;
  spec: ExperimentSpec;
  state: RunState;
  steps: readonly Step[];
  outputs: ReadonlyMap<string, StepOutput>;
  events: readonly ExperimentEvent[];
}

export const reportPrefix = STORE_LAYOUT.report;
export const reportKey = (id: string) => `${reportPrefix(id)}/${REPORT_PAGE}`;

const count = (a: Accuracy | undefined) => (a && a.total > 0n ? { correct: Number(a.correct), total: Number(a.total) } : undefined);

export function reportRow(row: ResultRow): ReportRow {
  const strategy = row.strategy && row.strategy.strategy !== PruningStrategy.UNSPECIFIED ? row.strategy : undefined;
  const accuracy: ReportRow["accuracy"] = {};
  for (const [metric, value] of [
    ["clean", row.clean],
    ["adversarial", row.adversarial],
    ["transfer", row.transfer],
    ["heldOutTransfer", row.heldOutTransfer],
  ] as const) {
    const c = count(value);
    if (c) accuracy[metric] = c;
  }
  return {
    model: ARCHITECTURE_NAMES[row.architecture] ?? "?",
    strategy: strategy ? STRATEGY_NAMES[strategy.strategy]! : "unpruned",
    scope: strategy ? SCOPE_NAMES[strategy.scope ?? PruningScope.UNSPECIFIED]! : "",
    ratio: row.compressionRatio,
    trial: row.trial,
    quantized: row.quantized,
    accuracy,
    nonzeroParameters: row.nonzeroParameters === undefined ? undefined : Number(row.nonzeroParameters),
    sizeBytes: row.sizeBytes === undefined ? undefined : Number(row.sizeBytes),
  };
}

/** A finished prune step, with what it pruned. */
interface FinishedPrune {
  model: string;
  trial: number;
  series: string;
  strategy: PruningStrategy;
  scope: PruningScope;
  ratio: number;
  base: ArtifactRefLike;
  mask: ArtifactRefLike;
}

function finishedPrunes(source: ReportSource): FinishedPrune[] {
  const prunes: FinishedPrune[] = [];
  for (const step of source.steps) {
    const mask = source.outputs.get(step.id)?.artifact;
    const row = step.fills[0]?.row;
    if (step.kind !== "prune" || !mask || !row?.strategy) continue;
    const base = (step.request(source.outputs) as PruneRequest).weights!;
    const strategy = STRATEGY_NAMES[row.strategy.strategy]!;
    const scope = SCOPE_NAMES[row.strategy.scope]!;
    prunes.push({ model: ARCHITECTURE_NAMES[row.architecture]!, trial: row.trial, series: `${strategy} (${scope})`, strategy: row.strategy.strategy, scope: row.strategy.scope, ratio: row.compressionRatio, base, mask });
  }
  return prunes;
}

const groupBy = <T, K>(items: readonly T[], key: (item: T) => K) => {
  const groups = new Map<K, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
};

async function readTensors<T extends Float32Array | Uint8Array>(store: ArtifactStore, ref: ArtifactRefLike, only?: ReadonlySet<string>): Promise<Map<string, T>> {
  const { tensors } = decodeSafetensors(await store.get(ref));
  return new Map(Object.entries(tensors).filter(([name]) => !only || only.has(name)).map(([name, t]) => [name, t.data as T]));
}

/** The paper's Fig. 1 ratios when the spec has them, else its smallest and largest. */
function histogramRatios(ratios: readonly number[]): number[] {
  if (ratios.includes(2) && ratios.includes(32)) return [2, 32];
  const sorted = [...new Set(ratios)].sort((a, b) => a - b);
  return [...new Set([sorted[0]!, sorted.at(-1)!])];
}

const HISTOGRAM_BINS = 60;

/** Fig. 1 data: the base weights GAP and global gradient pruning keep, against all of them (trial 0). */
async function histograms(store: ArtifactStore, prunes: readonly FinishedPrune[]): Promise<Map<string, HistogramSeries[]>> {
  const shown = prunes.filter((p) => p.scope === PruningScope.GLOBAL && (p.strategy === PruningStrategy.GAP || p.strategy === PruningStrategy.GRADIENT));
  const result = new Map<string, HistogramSeries[]>();
  for (const [model, modelPrunes] of groupBy(shown, (p) => p.model)) {
    const ratios = histogramRatios(modelPrunes.map((p) => p.ratio));
    const chosen = modelPrunes.filter((p) => ratios.includes(p.ratio));
    const masks = await Promise.all(chosen.map((p) => readTensors<Uint8Array>(store, p.mask)));
    const weights = await readTensors<Float32Array>(store, chosen[0]!.base, new Set(masks[0]!.keys()));
    let limit = 0;
    for (const values of weights.values()) for (const v of values) limit = Math.max(limit, Math.abs(v));
    const range = { bins: HISTOGRAM_BINS, min: -limit, max: limit };
    const all = weightHistogram(weights, undefined, range);
    const series: HistogramSeries[] = [];
    for (const ratio of ratios) {
      series.push({ ratio, series: "unpruned", ...all });
      chosen.forEach((p, i) => p.ratio === ratio && series.push({ ratio, series: p.series, ...weightHistogram(weights, masks[i], range) }));
    }
    result.set(model, series);
  }
  return result;
}

/** Jaccard overlap of every pair of strategies' masks at each ratio (trial 0). */
async function overlaps(store: ArtifactStore, prunes: readonly FinishedPrune[]): Promise<Map<string, OverlapCell[]>> {
  const result = new Map<string, OverlapCell[]>();
  for (const [model, modelPrunes] of groupBy(prunes, (p) => p.model)) {
    const cells: OverlapCell[] = [];
    for (const [ratio, atRatio] of groupBy(modelPrunes, (p) => p.ratio)) {
      const masks = await Promise.all(atRatio.map((p) => readTensors<Uint8Array>(store, p.mask)));
      atRatio.forEach((a, i) => atRatio.forEach((b, j) => cells.push({ ratio, a: a.series, b: b.series, jaccard: maskOverlap(masks[i]!, masks[j]!).jaccard })));
    }
    result.set(model, cells);
  }
  return result;
}

/** Claim C7's data: per model, ratio and trial, GAP (global)'s kept weights and those gradient (global) keeps too. */
async function disjointness(store: ArtifactStore, prunes: readonly FinishedPrune[]): Promise<MaskDisjointness[]> {
  const globalOf = (strategy: PruningStrategy) => prunes.filter((p) => p.scope === PruningScope.GLOBAL && p.strategy === strategy);
  const result: MaskDisjointness[] = [];
  for (const gap of globalOf(PruningStrategy.GAP)) {
    const gradient = globalOf(PruningStrategy.GRADIENT).find((p) => p.model === gap.model && p.ratio === gap.ratio && p.trial === gap.trial);
    if (!gradient) continue;
    const overlap = maskOverlap(await readTensors<Uint8Array>(store, gap.mask), await readTensors<Uint8Array>(store, gradient.mask));
    result.push({ model: gap.model, ratio: gap.ratio, trial: gap.trial, keptByGap: overlap.keptA, keptByBoth: overlap.keptBoth });
  }
  return result;
}

/** Per model, trial 0's training curves: the base model's (when trained here) and every fine-tuning's. */
function trainingCurves(source: ReportSource): Map<string, TrainingCurve[]> {
  const curves = new Map<string, TrainingCurve[]>();
  for (const step of source.steps) {
    const history = source.outputs.get(step.id)?.history;
    if (step.kind !== "train" || !history?.length || !step.id.includes("/t0/")) continue;
    const model = step.id.split("/")[0]!;
    const row = step.forRow;
    const curve: TrainingCurve = row?.strategy
      ? { series: `${STRATEGY_NAMES[row.strategy.strategy]} (${SCOPE_NAMES[row.strategy.scope]})`, ratio: row.compressionRatio, epochs: history }
      : { series: "base model", epochs: history };
    curves.set(model, [...(curves.get(model) ?? []), curve]);
  }
  return curves;
}

const seconds = (s: number) => s.toFixed(1);

/** A JobInfo's start-up self-check, without its time (which differs per process). */
function selfCheckCell(check: JobInfo["selfCheck"]): string {
  if (!check) return "not recorded";
  if (check.checks === 0) return check.worst;
  return `${check.passed ? "passed" : "FAILED"}: ${check.checks} comparisons with cpu; closest to its tolerance: ${check.worst}`;
}

/** The distinct places the jobs ran, with how many jobs each ran and the slowest start-up self-check among them. */
function softwareTable(outputs: ReadonlyMap<string, StepOutput>): Table {
  const columns = ["service", "backend", "backend self-check", "TensorFlow.js", "Node.js", "platform", "CPUs", "jobs", "self-check (s)"];
  const rows = new Map<string, string[]>();
  for (const { job } of outputs.values()) {
    if (!job) continue;
    const cells = [job.service, job.backend, selfCheckCell(job.selfCheck), job.tfjsVersion, job.nodeVersion, job.platform, String(job.cpus)];
    const key = cells.join("\u0000");
    const row = rows.get(key) ?? [...cells, "0", "-"];
    row[7] = String(Number(row[7]) + 1);
    if (job.selfCheck) row[8] = Math.max(job.selfCheck.seconds, Number(row[8]) || 0).toFixed(2);
    rows.set(key, row);
  }
  rows.set("coordinator", ["coordinator", "-", "-", "-", process.version, `${process.platform}-${process.arch}`, "-", "-", "-"]);
  return { columns, rows: [...rows.values()].sort((a, b) => a[0]!.localeCompare(b[0]!)), numericFrom: 6 };
}

/** Job wall times by kind of step, the slowest step of each, and this run's wall time. */
function timingsTable(source: ReportSource): { table: Table; note: string } {
  const columns = ["step kind", "jobs", "total (s)", "mean (s)", "slowest step", "slowest (s)"];
  const rows: string[][] = [];
  for (const [kind, steps] of groupBy(source.steps, (s) => s.kind)) {
    const timed = steps.map((s) => ({ id: s.id, wall: source.outputs.get(s.id)?.job?.wallSeconds })).filter((t): t is { id: string; wall: number } => t.wall !== undefined);
    if (timed.length === 0) continue;
    const total = timed.reduce((a, t) => a + t.wall, 0);
    const slowest = timed.reduce((a, b) => (b.wall > a.wall ? b : a));
    rows.push([kind, String(timed.length), seconds(total), seconds(total / timed.length), slowest.id, seconds(slowest.wall)]);
  }
  const times = source.events.map((e) => (e.time ? timestampDate(e.time).getTime() : NaN)).filter(Number.isFinite);
  const wall = times.length > 1 ? (Math.max(...times) - Math.min(...times)) / 1000 : 0;
  const cached = new Set(source.events.filter((e) => e.stepId && e.state === RunState.CACHED).map((e) => e.stepId)).size;
  return {
    table: { columns, rows, numericFrom: 1 },
    note: `Wall time of each compute job as its service measured it; cached steps keep the time of the run that computed them. This run: ${seconds(wall)} s from start to the last event, ${cached} of ${source.steps.length} steps found cached.`,
  };
}

/**
 * Builds the report of an experiment from what has finished so far and
 * writes every file under experiments/<id>/report/. Returns the stored
 * files, the HTML page first.
 */
export async function writeReport(store: ArtifactStore, source: ReportSource) {
  const rows = resultRows(source.steps, source.outputs).map(reportRow);
  const prunes = finishedPrunes(source);
  const ofTrial0 = prunes.filter((p) => p.trial === 0);
  const timings = timingsTable(source);
  const files = await buildReport({
    title: `GAP Lab report: ${source.spec.name || source.id}`,
    facts: [
      ["experiment", source.id],
      ["state", RunState[source.state].toLowerCase()],
      ["steps finished", `${source.steps.filter((step) => source.outputs.has(step.id)).length} of ${source.steps.length}`],
      ["generated", new Date().toISOString()],
    ],
    spec: toJson(ExperimentSpecSchema, source.spec),
    rows,
    histograms: await histograms(store, ofTrial0),
    overlaps: await overlaps(store, ofTrial0),
    curves: trainingCurves(source),
    numClasses: source.spec.numClasses,
    disjointness: await disjointness(store, prunes),
    software: softwareTable(source.outputs),
    timings: timings.table,
    timingsNote: timings.note,
  });
  const stored = [];
  for (const file of files) stored.push(await store.put(`${reportPrefix(source.id)}/${file.name}`, file.bytes, { contentType: file.contentType }));
  return stored;
}
