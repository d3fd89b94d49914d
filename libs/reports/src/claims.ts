/**
 * The paper's claims (and two of ours), each tested on an experiment's rows.
 * Every threshold lives in CLAIM_THRESHOLDS and is printed with its claim.
 * Claims compare means over trials; where a claim compares two quantities
 * measured on the same trial, the evidence is the paired difference per trial.
 */
import { accuracyOf, meanStd, seriesName, type MeanStd, type Metric, type ReportRow } from "./rows.js";

export const CLAIM_THRESHOLDS = {
  /** Fewer trials than this give "not enough data": no spread, no pairing. */
  minTrials: 2,
  /** C1, C6: transfer accuracy is "close" to clean accuracy when at most this far below it. */
  closeGap: 0.1,
  /** C2: the unpruned model's inputs "transfer well" when transfer accuracy is at most this share of clean accuracy. */
  transfersWellShare: 0.5,
  /** C2: the "low" ratios. */
  lowRatioMax: 4,
  /** C3: the smallest rise to the peak and fall after it that counts. */
  riseFall: 0.01,
  /** C3: "almost all cases": this share of the strategy/scope pairs. */
  almostAll: 0.75,
  /** C4: a model "learns" when its clean accuracy is at least this far above chance (1 / classes). */
  learnMargin: 0.1,
  /** C5: a change is "negligible" when the mean over trials is at most this large, in every cell. */
  negligible: 0.02,
  /** C7: "partially disjoint": the share of GAP's kept weights that gradient pruning removes lies in this range. */
  partiallyDisjoint: [0.05, 0.95] as const,
} as const;

export type Verdict = "holds" | "does not hold" | "not enough data";
export type ClaimId = "C1" | "C2" | "C3" | "C4" | "C5" | "C6" | "C7";

/** One measured quantity behind a verdict. */
export interface Evidence {
  label: string;
  /** The quantity over trials (a paired difference where the label says so). */
  stats?: MeanStd;
  /** Preformatted, for quantities that are not one mean (a curve, a count). */
  text?: string;
  passes?: boolean;
}

export interface Finding {
  claim: ClaimId;
  model: string;
  statement: string;
  /** The metric and the threshold, in words. */
  test: string;
  evidence: Evidence[];
  verdict: Verdict;
  /** Why this verdict, in one sentence. */
  reason: string;
}

/** Per trial, the share of global GAP's kept weights that global gradient pruning removes. */
export interface MaskDisjointness {
  model: string;
  ratio: number;
  trial: number;
  /** Weights GAP keeps. */
  keptByGap: number;
  /** Of those, weights gradient pruning keeps too. */
  keptByBoth: number;
}

export interface ClaimsInput {
  rows: readonly ReportRow[];
  numClasses: number;
  disjointness?: readonly MaskDisjointness[];
}

const T = CLAIM_THRESHOLDS;
const pts = (x: number) => `${(x * 100).toFixed(1)}`;
const GAP_GLOBAL = "gap (global)";
const GAP_LAYER = "gap (layer)";
const CONVENTIONAL = ["random (global)", "magnitude (global)", "magnitude (layer)", "gradient (global)", "gradient (layer)"];

/** The float rows of one model's series, by ratio, then by trial. */
function byRatio(rows: readonly ReportRow[], series: string, quantized = false): Map<number, Map<number, ReportRow>> {
  const out = new Map<number, Map<number, ReportRow>>();
  for (const row of rows) {
    if (seriesName(row) !== series || row.quantized !== quantized) continue;
    const trials = out.get(row.ratio) ?? new Map<number, ReportRow>();
    trials.set(row.trial, row);
    out.set(row.ratio, trials);
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

/** f of every trial where it is defined. */
function perTrial(trials: ReadonlyMap<number, ReportRow> | undefined, f: (row: ReportRow) => number | undefined): number[] {
  return [...(trials?.values() ?? [])].map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
}

const acc = (metric: Metric) => (row: ReportRow) => accuracyOf(row.accuracy[metric]);
/** a − b on the same trial (a paired difference). */
const diff = (a: Metric, b: Metric) => (row: ReportRow) => {
  const x = acc(a)(row);
  const y = acc(b)(row);
  return x === undefined || y === undefined ? undefined : x - y;
};

function verdictOf(evidence: readonly Evidence[], enough: boolean, what: { holds: string; fails: string }): Pick<Finding, "verdict" | "reason"> {
  if (!enough || evidence.length === 0) return { verdict: "not enough data", reason: `needs every cell it names measured in at least ${T.minTrials} trials` };
  const failing = evidence.filter((e) => e.passes === false);
  if (failing.length === 0) return { verdict: "holds", reason: what.holds };
  return { verdict: "does not hold", reason: `${what.fails}: ${failing.map((e) => e.label).join("; ")}` };
}

/** A paired difference per ratio of one series, each passing when `passes(mean)`. */
function perRatioEvidence(
  ratios: Map<number, Map<number, ReportRow>>,
  label: (ratio: number) => string,
  f: (row: ReportRow) => number | undefined,
  passes: (mean: number, ratio: number) => boolean,
): { evidence: Evidence[]; enough: boolean } {
  let enough = ratios.size > 0;
  const evidence: Evidence[] = [];
  for (const [ratio, trials] of ratios) {
    const values = perTrial(trials, f);
    const stats = meanStd(values);
    if (!stats || stats.n < T.minTrials) enough = false;
    evidence.push({ label: label(ratio), stats, passes: stats ? passes(stats.mean, ratio) : undefined });
  }
  return { evidence, enough };
}

function c1(rows: readonly ReportRow[], model: string): Finding {
  const { evidence, enough } = perRatioEvidence(byRatio(rows, GAP_GLOBAL), (p) => `p=${p}: clean − transfer`, diff("clean", "transfer"), (m) => m <= T.closeGap);
  return {
    claim: "C1",
    model,
    statement: "Global GAP's transfer accuracy stays close to its own clean accuracy at every ratio.",
    test: `clean − transfer accuracy of global GAP, paired per trial, at most ${pts(T.closeGap)} points at every ratio`,
    evidence,
    ...verdictOf(evidence, enough, { holds: "transfer accuracy is within the gap at every ratio", fails: "too far below clean accuracy at" }),
  };
}

function c2(rows: readonly ReportRow[], model: string): Finding {
  const evidence: Evidence[] = [];
  let enough = true;
  let anyLow = false;
  for (const series of CONVENTIONAL) {
    for (const [ratio, trials] of byRatio(rows, series)) {
      if (ratio > T.lowRatioMax) continue;
      anyLow = true;
      const stats = meanStd(perTrial(trials, (row) => (acc("clean")(row) ? acc("transfer")(row)! / acc("clean")(row)! : undefined)));
      if (!stats || stats.n < T.minTrials) enough = false;
      evidence.push({ label: `${series}, p=${ratio}: transfer / clean`, stats, passes: stats ? stats.mean <= T.transfersWellShare : undefined });
    }
  }
  return {
    claim: "C2",
    model,
    statement: "For the conventional methods, the unpruned model's adversarial inputs transfer well at low ratios.",
    test: `transfer accuracy at most ${T.transfersWellShare} of clean accuracy (ratio per trial) for random, magnitude and gradient pruning at every ratio ≤ ${T.lowRatioMax}`,
    evidence,
    ...verdictOf(evidence, enough && anyLow, { holds: "the inputs transfer well for every conventional method", fails: "the inputs do not transfer well for" }),
  };
}

function c3(rows: readonly ReportRow[], model: string): Finding {
  const evidence: Evidence[] = [];
  let enough = true;
  for (const series of [...new Set(rows.filter((r) => r.ratio !== 1).map(seriesName))].sort()) {
    const curve: Array<[number, number]> = [];
    for (const [ratio, trials] of byRatio(rows, series)) {
      const stats = meanStd(perTrial(trials, acc("transfer")));
      if (!stats || stats.n < T.minTrials) enough = false;
      if (stats) curve.push([ratio, stats.mean]);
    }
    if (curve.length < 3) {
      enough = false;
      continue;
    }
    const peak = curve.reduce((best, point) => (point[1] > best[1] ? point : best));
    const index = curve.indexOf(peak);
    const rises = peak[1] - curve[0]![1] >= T.riseFall;
    const falls = peak[1] - curve.at(-1)![1] >= T.riseFall;
    evidence.push({
      label: `${series}: transfer accuracy by ratio`,
      text: `${curve.map(([p, m]) => `p=${p}: ${pts(m)}`).join(", ")}; peak at p=${peak[0]}`,
      passes: index > 0 && index < curve.length - 1 && rises && falls,
    });
  }
  const shown = evidence.filter((e) => e.passes).length;
  const share = evidence.length > 0 ? shown / evidence.length : 0;
  const verdict: Verdict = !enough || evidence.length === 0 ? "not enough data" : share >= T.almostAll ? "holds" : "does not hold";
  return {
    claim: "C3",
    model,
    statement: "Transfer accuracy rises with the ratio up to a point, then falls.",
    test: `mean transfer accuracy peaks at an inner ratio, at least ${pts(T.riseFall)} points above the smallest and the largest ratio's, for at least ${T.almostAll * 100}% of the strategy/scope pairs`,
    evidence,
    verdict,
    reason:
      verdict === "not enough data"
        ? `needs at least 3 ratios per pair, each measured in at least ${T.minTrials} trials`
        : `the pattern shows in ${shown} of ${evidence.length} pairs`,
  };
}

function c4(rows: readonly ReportRow[], model: string, numClasses: number): Finding {
  const learns = 1 / numClasses + T.learnMargin;
  const ratios = byRatio(rows, GAP_LAYER);
  const learnsOnlyAt2 = (mean: number, ratio: number) => (ratio === 2 ? mean >= learns : mean < learns);
  const { evidence, enough } = perRatioEvidence(ratios, (p) => `p=${p}: clean accuracy`, acc("clean"), learnsOnlyAt2);
  const covered = ratios.has(2) && [...ratios.keys()].some((p) => p > 2);
  return {
    claim: "C4",
    model,
    statement: "Layerwise GAP fails to learn except at p = 2.",
    test: `clean accuracy of layerwise GAP at least ${pts(learns)}% (chance + ${pts(T.learnMargin)} points) at p = 2 and below it at every larger ratio`,
    evidence,
    ...verdictOf(evidence, enough && covered, { holds: "it learns at p = 2 only", fails: "contradicted at" }),
  };
}

function c5(rows: readonly ReportRow[], model: string): Finding {
  const evidence: Evidence[] = [];
  let enough = true;
  const cells = new Set(rows.map((r) => JSON.stringify([seriesName(r), r.ratio])));
  for (const metric of ["clean", "transfer"] as const) {
    const deltas: number[] = [];
    let worst: { label: string; mean: number } | undefined;
    let failing = 0;
    for (const cell of cells) {
      const [series, ratio] = JSON.parse(cell) as [string, number];
      const float = byRatio(rows, series).get(ratio);
      const int8 = byRatio(rows, series, true).get(ratio);
      const paired = perTrial(int8, (row) => {
        const a = acc(metric)(row);
        const b = float?.get(row.trial) ? acc(metric)(float.get(row.trial)!) : undefined;
        return a === undefined || b === undefined ? undefined : a - b;
      });
      const stats = meanStd(paired);
      if (!stats || stats.n < T.minTrials) {
        enough = false;
        continue;
      }
      deltas.push(...paired);
      if (Math.abs(stats.mean) > T.negligible) failing++;
      if (!worst || Math.abs(stats.mean) > Math.abs(worst.mean)) worst = { label: `${series} p=${ratio}`, mean: stats.mean };
    }
    evidence.push({ label: `int8 − float ${metric} accuracy, every cell and trial`, stats: meanStd(deltas) });
    evidence.push({
      label: `${metric}: cells beyond ±${pts(T.negligible)} points`,
      text: `${failing} of ${cells.size}${worst ? `; largest mean change ${pts(worst.mean)} points (${worst.label})` : ""}`,
      passes: failing === 0,
    });
  }
  return {
    claim: "C5",
    model,
    statement: "int8 quantization changes clean and transfer accuracy negligibly.",
    test: `int8 − float accuracy, paired per trial, within ±${pts(T.negligible)} points on average in every cell (strategy, ratio), for clean and for transfer accuracy`,
    evidence,
    ...verdictOf(evidence, enough && cells.size > 0, { holds: "every cell changes negligibly", fails: "not negligible" }),
  };
}

function c6(rows: readonly ReportRow[], model: string): Finding {
  const ratios = byRatio(rows, GAP_GLOBAL);
  const { evidence, enough } = perRatioEvidence(ratios, (p) => `p=${p}: clean − held-out transfer`, diff("clean", "heldOutTransfer"), (m) => m <= T.closeGap);
  const asides = [...ratios].map(([ratio, trials]) => ({ label: `p=${ratio}: transfer − held-out transfer (for reference)`, stats: meanStd(perTrial(trials, diff("transfer", "heldOutTransfer"))) }));
  return {
    claim: "C6",
    model,
    statement: "GAP's transfer robustness holds on held-out inputs that it was never scored on.",
    test: `clean − held-out transfer accuracy of global GAP (inputs from the test split, attacked on the unpruned model), paired per trial, at most ${pts(T.closeGap)} points at every ratio`,
    evidence: [...evidence, ...asides],
    ...verdictOf(evidence, enough, { holds: "held-out transfer accuracy is within the gap at every ratio", fails: "too far below clean accuracy at" }),
  };
}

function c7(disjointness: readonly MaskDisjointness[], model: string): Finding {
  const [low, high] = T.partiallyDisjoint;
  const ratios = [...new Set(disjointness.filter((d) => d.model === model).map((d) => d.ratio))].sort((a, b) => a - b);
  let enough = ratios.length > 0;
  const evidence: Evidence[] = ratios.map((ratio) => {
    const shares = disjointness.filter((d) => d.model === model && d.ratio === ratio && d.keptByGap > 0).map((d) => 1 - d.keptByBoth / d.keptByGap);
    const stats = meanStd(shares);
    if (!stats || stats.n < T.minTrials) enough = false;
    return { label: `p=${ratio}: share of GAP's kept weights that gradient pruning removes`, stats, passes: stats ? stats.mean >= low && stats.mean <= high : undefined };
  });
  return {
    claim: "C7",
    model,
    statement: "GAP and global gradient pruning keep partially disjoint sets of weights.",
    test: `share of global GAP's kept weights that global gradient pruning removes, per trial, between ${low} and ${high} at every ratio`,
    evidence,
    ...verdictOf(evidence, enough, { holds: "the kept sets overlap, but not fully, at every ratio", fails: "not partially disjoint at" }),
  };
}

/** Every claim for every model of the rows, in claim order. */
export function evaluateClaims({ rows, numClasses, disjointness = [] }: ClaimsInput): Finding[] {
  const findings: Finding[] = [];
  for (const model of [...new Set(rows.map((r) => r.model))].sort()) {
    const own = rows.filter((r) => r.model === model);
    findings.push(c1(own, model), c2(own, model), c3(own, model), c4(own, model, numClasses), c5(own, model), c6(own, model), c7(disjointness, model));
  }
  return findings;
}

/** An evidence line in words: "label: 12.3 ± 1.2 points (n = 3, t = 4.1)". */
export function formatEvidence(e: Evidence): string {
  const mark = e.passes === undefined ? "" : e.passes ? " ✓" : " ✗";
  if (e.text !== undefined) return `${e.label}: ${e.text}${mark}`;
  if (!e.stats) return `${e.label}: not measured${mark}`;
  const { mean, std, n } = e.stats;
  const share = e.label.includes("/") || e.label.includes("share");
  const value = share ? `${mean.toFixed(3)} ± ${std.toFixed(3)}` : `${pts(mean)} ± ${pts(std)} points`;
  const t = n > 1 && std > 0 ? `, t = ${(mean / (std / Math.sqrt(n))).toFixed(1)}` : "";
  return `${e.label}: ${value} (n = ${n}${t})${mark}`;
}
