// nx run bench:compare [--arch resnet20,vgg_bn_drop,googlenet,mobilenet_v2] [--batch 128] [--rounds N]
//                      [--repeats N] [--warmups N] [--gap-inputs N] [--eval-batches N] [--pgd-warmup-steps N]
//                      [--threads 2] [--no-pytorch] [--wait-quiet 60] [--retry-noisy 1]
// For each architecture, runs our benchmark (src/ml.ts) and the PyTorch reference
// (tools/pytorch/bench_reference.py) on identical shapes and parameters as two live
// processes whose units of work take turns (one unit at a time: each timed repeat of ours
// next to the same repeat of PyTorch's), over --rounds rounds (see DEFAULT_ROUNDS), and
// writes bench-results/compare.json and bench-results/compare.md with the ratios
// ours / PyTorch. Both files are rewritten after every architecture, so an interrupted run keeps
// what it measured.
//
// The machine may be shared: before each round, up to --wait-quiet seconds are spent waiting
// for other work to drop below half a core (0 to start at once); how busy the machine was
// is recorded either way, and a round during which other work took more than half a core on
// average is repeated (up to --retry-noisy times), keeping the quietest attempt.
//
// Python: $GAP_PYTHON, else /usr/bin/python3, else python3; the first that imports torch
// and torchvision. Without one, our numbers are written with null ratios.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./stats.js";
import { alternate, type Side, TurnTaker } from "./turns.js";

const ARCHS = ["resnet20", "vgg_bn_drop", "googlenet", "mobilenet_v2"] as const;

interface Settings {
  batch: number;
  repeats: number;
  gapInputs: number;
  evalBatches: number;
  pgdWarmupSteps: number;
  /** Warm-up calls before the timed repeats of training, evaluation and PGD-10. */
  warmups: number;
}
/**
 * Per-architecture defaults, chosen so that a full four-architecture run takes about
 * 15 minutes on a 2-core machine. ResNet20 gets the full settings; the others run 2
 * timed repeats, not 5, and score GAP over 256 inputs (2 batches of 128) instead of 1000,
 * because a PGD-10 batch of 128 takes ~15-40 s each on our wasm path for them. Three
 * warm-up calls, not one: after a single one, ResNet20's next two training steps took
 * 146-185 ms and the eight after them 129-161 ms (three fresh processes), and GoogLeNet's
 * first timed step 245-258 ms against 174-205 ms for its second (three rounds).
 */
const PRESETS: Record<(typeof ARCHS)[number], Settings> = {
  resnet20: { batch: 128, repeats: 5, gapInputs: 1000, evalBatches: 4, pgdWarmupSteps: 1, warmups: 3 },
  vgg_bn_drop: { batch: 128, repeats: 2, gapInputs: 256, evalBatches: 4, pgdWarmupSteps: 1, warmups: 3 },
  googlenet: { batch: 128, repeats: 2, gapInputs: 256, evalBatches: 4, pgdWarmupSteps: 1, warmups: 3 },
  mobilenet_v2: { batch: 128, repeats: 2, gapInputs: 256, evalBatches: 4, pgdWarmupSteps: 1, warmups: 3 },
};

const { values: args } = parseArgs({
  options: {
    arch: { type: "string", default: ARCHS.join(",") },
    batch: { type: "string" },
    repeats: { type: "string" },
    warmups: { type: "string" },
    "gap-inputs": { type: "string" },
    "eval-batches": { type: "string" },
    "pgd-warmup-steps": { type: "string" },
    threads: { type: "string", default: "2" },
    "no-pytorch": { type: "boolean", default: false },
    "wait-quiet": { type: "string", default: "60" },
    "retry-noisy": { type: "string", default: "1" },
    rounds: { type: "string" },
  },
});
const archs = args.arch!.split(",").map((a) => a.trim()).filter(Boolean);
for (const a of archs) if (!(ARCHS as readonly string[]).includes(a)) throw new Error(`unknown architecture ${a} (choose from ${ARCHS.join(", ")})`);
const threads = Number(args.threads);
const waitQuietSeconds = Number(args["wait-quiet"]);
const retryNoisy = Number(args["retry-noisy"]);
if (!Number.isInteger(retryNoisy) || retryNoisy < 0) throw new Error(`--retry-noisy must be an integer >= 0, got ${args["retry-noisy"]}`);
/** Other work (cores) above which a run counts as noisy. */
const NOISY_CORES = 0.5;
if (!(waitQuietSeconds >= 0)) throw new Error(`--wait-quiet must be >= 0 seconds, got ${args["wait-quiet"]}`);
/**
 * Rounds per architecture: each round a fresh pair of processes, ours first in even
 * rounds and PyTorch first in odd ones; each side keeps its best timings over its rounds.
 * The VM's speed drifts by 20-30% within seconds (a whole training measurement is under a
 * second), so each unit of work runs right next to the other side's same unit (alternate).
 */
const DEFAULT_ROUNDS: Record<(typeof ARCHS)[number], number> = { resnet20: 3, vgg_bn_drop: 1, googlenet: 1, mobilenet_v2: 1 };
const roundsOverride = args.rounds === undefined ? undefined : Number(args.rounds);
if (roundsOverride !== undefined && !(Number.isInteger(roundsOverride) && roundsOverride >= 1)) throw new Error(`--rounds must be a positive integer, got ${args.rounds}`);
const overrides: Partial<Settings> = {};
for (const [flag, key] of [
  ["batch", "batch"],
  ["repeats", "repeats"],
  ["warmups", "warmups"],
  ["gap-inputs", "gapInputs"],
  ["eval-batches", "evalBatches"],
  ["pgd-warmup-steps", "pgdWarmupSteps"],
] as const) {
  const raw = args[flag];
  if (raw === undefined) continue;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag} must be a positive integer, got ${raw}`);
  overrides[key] = v;
}

const benchDir = resolve(import.meta.dirname, "..");
const repoRoot = resolve(benchDir, "../..");
const outDir = join(repoRoot, "bench-results");
const runDir = join(outDir, "compare");
mkdirSync(runDir, { recursive: true });
const referenceScript = join(repoRoot, "tools/pytorch/bench_reference.py");

// ---- machine -------------------------------------------------------------------------

/**
 * The CPU's name with its family and model numbers: "AMD EPYC" alone names machines of
 * different generations (families 25 and 26 here: a pure-FMA loop reached 115 and 210 GFLOP/s
 * per core).
 */
function cpuModel(): string {
  try {
    const lines = readFileSync("/proc/cpuinfo", "utf8").split("\n");
    const field = (name: string) => lines.find((l) => l.split(":")[0]!.trim() === name)?.split(":")[1]!.trim();
    const family = field("cpu family");
    const model = field("model");
    return `${field("model name") ?? "unknown"}${family && model ? `, family ${family}, model ${model}` : ""}`;
  } catch {
    return "unknown";
  }
}

/** Busy and total CPU seconds of the whole machine so far, from /proc/stat (USER_HZ = 100). */
function machineCpu(): { busy: number; total: number } | null {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest times are already in user)
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
    const busy = user + nice + system + irq + softirq + (steal ?? 0);
    return { busy: busy / 100, total: (busy + idle + iowait) / 100 };
  } catch {
    return null;
  }
}

/** Cores busy over the next `seconds` (nothing of ours runs meanwhile, so it is all other work). */
async function busyCores(seconds: number): Promise<number | null> {
  const a = machineCpu();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = machineCpu();
  return a && b ? (b.busy - a.busy) / (b.total - a.total) * availableParallelism() : null;
}

/** Waits (up to maxSeconds) until other work uses less than half a core. */
async function waitQuiet(maxSeconds: number): Promise<{ waitedSeconds: number; busyCoresBefore: number | null }> {
  const start = performance.now();
  let busy = await busyCores(2);
  while (busy !== null && busy >= 0.5 && (performance.now() - start) / 1000 < maxSeconds) {
    console.error(`waiting for the machine to quiet down: other work uses ${busy.toFixed(2)} cores`);
    busy = await busyCores(5);
  }
  return { waitedSeconds: (performance.now() - start) / 1000, busyCoresBefore: busy };
}

function findPython(): { executable: string; tried: string[] } | { executable: null; tried: string[] } {
  const candidates = process.env.GAP_PYTHON ? [process.env.GAP_PYTHON] : ["/usr/bin/python3", "python3"];
  for (const executable of candidates) {
    const probe = spawnSync(executable, ["-c", "import torch, torchvision"], { stdio: "ignore", timeout: 120_000 });
    if (probe.status === 0) return { executable, tried: candidates };
  }
  return { executable: null, tried: candidates };
}

// ---- running one side ----------------------------------------------------------------

interface Throughput {
  imagesPerSecond: number;
  seconds: number[];
  tensors?: { before: number; after: number };
}
interface SideResult {
  trainStep: Throughput;
  evaluation: Throughput;
  pgd10: Throughput;
  /** secondsPerAttempt: every run's timing when runs were combined (combine). */
  gapScoring: { inputs: number; seconds: number; kept: number; secondsPerAttempt?: number[]; tensors?: { before: number; after: number } };
  peakRssBytes: number;
  cpuSeconds: number;
  backend: Record<string, unknown> & { name: string };
  parameters: number;
  /** Multiply-adds of one image's forward pass. */
  forwardMultiplyAdds?: number;
  /** GFLOP/s of one 3x3 convolution, 64 channels into 64 over 8x8 pixels at batch 128, in the same process: the reference. */
  referenceGflops?: number;
  tensorLeak?: number;
  [key: string]: unknown;
}

/**
 * Forward passes' worth of multiply-adds per image of each workload: a training
 * step is a forward and a backward pass (data and weights: about twice the
 * forward); PGD-10 is a clean forward, ten forwards with a backward to the
 * input (about one forward each) and a final forward; evaluation one forward;
 * GAP scoring a forward and a full backward per input.
 */
const FORWARDS_PER_IMAGE = { trainStep: 3, evaluation: 1, pgd10: 22, gapScoring: 3 } as const;

/** Achieved GFLOP/s (2 FLOPs per multiply-add) of a side's workloads. */
function gflops(side: SideResult | null | undefined) {
  const macs = side?.forwardMultiplyAdds;
  if (!side || !macs) return undefined;
  const rate = (forwards: number, imagesPerSecond: number) => (2 * macs * forwards * imagesPerSecond) / 1e9;
  return {
    trainStep: rate(FORWARDS_PER_IMAGE.trainStep, side.trainStep.imagesPerSecond),
    evaluation: rate(FORWARDS_PER_IMAGE.evaluation, side.evaluation.imagesPerSecond),
    pgd10: rate(FORWARDS_PER_IMAGE.pgd10, side.pgd10.imagesPerSecond),
    gapScoring: rate(FORWARDS_PER_IMAGE.gapScoring, side.gapScoring.inputs / side.gapScoring.seconds),
  };
}

/** The median of a round's ratios and the worst (smallest, or largest for memory) of them. */
function spread(rounds: readonly Ratios[], key: keyof Ratios) {
  const values = rounds.map((r) => r[key]).filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (values.length === 0) return { median: null, worst: null };
  return { median: median(values), worst: key === "peakRss" ? values.at(-1)! : values[0]! };
}

/**
 * The typical rather than the best: PyTorch's median timed repeat / ours, every round's
 * repeats pooled (GAP scoring: its one timing per round). Both sides time the same
 * images per repeat. A side whose repeats spread widely gains more from best-of-N.
 */
function medianRepeatRatios(ours: SideResult | null, torch: SideResult | null): Omit<Ratios, "peakRss"> {
  const repeats = (key: "trainStep" | "evaluation" | "pgd10") => ratio(median(torch?.[key].seconds ?? []), median(ours?.[key].seconds ?? []));
  const gap = (side: SideResult | null) => median(side ? (side.gapScoring.secondsPerAttempt ?? [side.gapScoring.seconds]) : []);
  return { trainStep: repeats("trainStep"), evaluation: repeats("evaluation"), pgd10: repeats("pgd10"), gapScoring: ratio(gap(torch), gap(ours)) };
}
interface RunRecord {
  command: string[];
  exitCode: number | null;
  wallSeconds: number;
  loadAverage: { start: number[]; end: number[] };
  /** Average cores busy with other work during the round: (machine busy CPU - both processes' CPU) / wall. */
  otherCoresBusy: number | null;
  /** Time spent waiting for a quiet machine before the round, and how busy it was when the round started. */
  quiet: { waitedSeconds: number; busyCoresBefore: number | null };
  /** Other work took more than NOISY_CORES on average during the round. */
  noisy: boolean;
  /** Runs made (noisy runs are repeated); the timings are the best over them. */
  attempts: number;
  /** Every attempt with its own results, when there were several. */
  runs?: RunRecord[];
  result: SideResult | null;
  error?: string;
}

/**
 * Runs the sides (ours and PyTorch, or ours alone) as live processes whose units of work
 * take turns (alternate), so that each of our timed repeats sits next to PyTorch's in time.
 * Other work is the machine's busy CPU during the pair minus both processes' own.
 */
async function runTogether(sides: readonly Side[], cwd: string): Promise<RunRecord[]> {
  const quiet = await waitQuiet(waitQuietSeconds);
  for (const side of sides) rmSync(side.outFile, { force: true });
  const loadStart = loadavg();
  const cpuStart = machineCpu();
  const start = performance.now();
  for (const side of sides) console.error(`\n$ ${[side.executable, ...side.argv].join(" ")}`);
  const takers = sides.map((side) => new TurnTaker(side, cwd));
  let errors: (string | undefined)[];
  try {
    await alternate(takers);
    errors = takers.map((t) => t.ended?.error);
  } catch (error) {
    // A side that failed by itself says why; the others were stopped because the runs fell out of step.
    const failures = takers.map((t) => t.ended?.error);
    for (const t of takers) t.child.kill();
    await Promise.all(takers.map(async (t) => { while (await t.next() !== null); }));
    errors = failures.map((failure) => failure ?? (error as Error).message);
  }
  const wallSeconds = (performance.now() - start) / 1000;
  const cpuEnd = machineCpu();
  const results = sides.map((side, i) => (!errors[i] && existsSync(side.outFile) ? (JSON.parse(readFileSync(side.outFile, "utf8")) as SideResult) : null));
  const ownCpu = results.every((r) => r) ? results.reduce((sum, r) => sum + r!.cpuSeconds, 0) : null;
  const otherCoresBusy = ownCpu !== null && cpuStart && cpuEnd ? Math.max(0, (cpuEnd.busy - cpuStart.busy - ownCpu) / wallSeconds) : null;
  return takers.map((t, i) => ({
    command: [sides[i]!.executable, ...sides[i]!.argv],
    exitCode: t.ended?.exitCode ?? null,
    wallSeconds,
    loadAverage: { start: loadStart, end: loadavg() },
    otherCoresBusy,
    quiet,
    noisy: otherCoresBusy === null || otherCoresBusy > NOISY_CORES,
    attempts: 1,
    result: results[i]!,
    ...(errors[i] ? { error: errors[i] } : {}),
  }));
}

/**
 * Runs the sides together, and repeats a noisy pair up to --retry-noisy times. Other work
 * only ever slows a workload down, so, in the spirit of best-of-N, each workload keeps its
 * best timing over the attempts (combine).
 */
async function measure(sides: readonly Side[], cwd: string): Promise<RunRecord[]> {
  const attempts: RunRecord[][] = [];
  for (let attempt = 1; attempt <= 1 + retryNoisy; attempt++) {
    const records = await runTogether(sides, cwd);
    if (records.some((r) => r.error)) return records.map((r) => ({ ...r, attempts: attempt }));
    attempts.push(records);
    if (!records[0]!.noisy) break;
    if (attempt <= retryNoisy) console.error(`other work took ${records[0]!.otherCoresBusy?.toFixed(2)} cores during that pair of runs: running it again`);
  }
  return sides.map((_, i) => combine(attempts.map((records) => records[i]!)));
}

/**
 * One record from several runs of the same side: each workload keeps its best timing
 * (with every timed repeat listed), peak RSS the largest; the noise fields are those of
 * the quietest run, and `runs` lists them all.
 */
function combine(runs: RunRecord[]): RunRecord {
  if (runs.length === 1) return runs[0]!;
  const quietest = runs.reduce((a, b) => ((b.otherCoresBusy ?? Infinity) < (a.otherCoresBusy ?? Infinity) ? b : a));
  const results = runs.map((r) => r.result!);
  const fastest = (key: "trainStep" | "evaluation" | "pgd10") => {
    const best = results.reduce((a, b) => (b[key].imagesPerSecond > a[key].imagesPerSecond ? b : a))[key];
    return { ...best, seconds: results.flatMap((r) => r[key].seconds) };
  };
  const gap = results.reduce((a, b) => (b.gapScoring.seconds < a.gapScoring.seconds ? b : a)).gapScoring;
  const merged: SideResult = {
    ...quietest.result!,
    trainStep: fastest("trainStep"),
    evaluation: fastest("evaluation"),
    pgd10: fastest("pgd10"),
    gapScoring: { ...gap, secondsPerAttempt: results.flatMap((r) => r.gapScoring.secondsPerAttempt ?? [r.gapScoring.seconds]) },
    peakRssBytes: Math.max(...results.map((r) => r.peakRssBytes)),
    referenceGflops: Math.max(...results.map((r) => r.referenceGflops ?? 0)) || undefined,
    tensorLeak: Math.max(...results.map((r) => r.tensorLeak ?? 0)),
  };
  const attempts = runs.reduce((n, r) => n + r.attempts, 0);
  return { ...quietest, result: merged, attempts, runs: runs.flatMap((r) => r.runs ?? [r]) };
}

function sideArgs(s: Settings): string[] {
  return [
    `--batch=${s.batch}`,
    `--repeats=${s.repeats}`,
    `--warmups=${s.warmups}`,
    `--gap-inputs=${s.gapInputs}`,
    `--eval-batches=${s.evalBatches}`,
    `--pgd-warmup-steps=${s.pgdWarmupSteps}`,
  ];
}

// ---- ratios and report ---------------------------------------------------------------

interface Ratios {
  trainStep: number | null;
  evaluation: number | null;
  pgd10: number | null;
  /** PyTorch seconds / our seconds: > 1 means we are faster. */
  gapScoring: number | null;
  /** Our peak RSS / PyTorch's: > 1 means we use more memory. */
  peakRss: number | null;
}
/** a / b, or null when either is missing or b is not positive. */
function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a != null && b != null && b > 0 ? a / b : null;
}

function ratios(ours: SideResult | null, torch: SideResult | null): Ratios {
  return {
    trainStep: ratio(ours?.trainStep.imagesPerSecond, torch?.trainStep.imagesPerSecond),
    evaluation: ratio(ours?.evaluation.imagesPerSecond, torch?.evaluation.imagesPerSecond),
    pgd10: ratio(ours?.pgd10.imagesPerSecond, torch?.pgd10.imagesPerSecond),
    gapScoring: ratio(torch?.gapScoring.seconds, ours?.gapScoring.seconds),
    peakRss: ratio(ours?.peakRssBytes, torch?.peakRssBytes),
  };
}

interface ArchRecord {
  architecture: string;
  settings: Settings & { threads: number; rounds: number };
  ours: RunRecord;
  pytorch: RunRecord | null;
  ratios: Ratios;
  /** Each round's own ratios (its ours run against its PyTorch run): the spread of the best-of ratios above. */
  roundRatios: Ratios[];
}

const fmt = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));
const fmtRatio = (v: number | null) => (v === null ? "null" : `${v.toFixed(2)}×`);
const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);
const tensors = (t?: { before: number; after: number }) => (t ? `${t.before} → ${t.after}${t.after === t.before ? "" : " (LEAK)"}` : "–");
const loads = (l: { start: number[]; end: number[] }) => `${l.start.map((v) => v.toFixed(2)).join(" ")} → ${l.end.map((v) => v.toFixed(2)).join(" ")}`;

function backendLine(b: Record<string, unknown> | undefined): string {
  if (!b) return "–";
  const { name, ...rest } = b;
  const parts = Object.entries(rest)
    .filter(([k]) => !["package", "executable", "choice"].includes(k))
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
  return `${String(name)} (${parts.join(", ")})`;
}

function markdown(report: Report): string {
  const lines: string[] = [];
  lines.push("# GAP Lab vs PyTorch: CPU throughput", "");
  lines.push(`- Date: ${report.date}`);
  lines.push(`- Machine: ${report.machine.nproc} CPUs (${report.machine.cpuModel}), ${(report.machine.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, Node ${report.machine.node}`);
  lines.push(`- Our backend: ${backendLine(report.archs.find((a) => a.ours.result)?.ours.result?.backend)}`);
  lines.push(
    `- PyTorch: ${report.pytorch.executable ? backendLine(report.archs.find((a) => a.pytorch?.result)?.pytorch?.result?.backend) : `**not found** (tried ${report.pytorch.tried.join(", ")}; set GAP_PYTHON): ratios are null`}`,
  );
  lines.push(`- Load average (1/5/15 min) when the comparison started: ${report.loadAverage.start.map((v) => v.toFixed(2)).join(" ")}; finished: ${report.loadAverage.end?.map((v) => v.toFixed(2)).join(" ") ?? "(running)"}`);
  lines.push("");
  lines.push(
    "Ratios are ours / PyTorch for throughputs (img/s) and PyTorch time / our time for GAP scoring, so > 1 means we are faster; " +
      "for peak RSS the ratio is ours / PyTorch (> 1 means we use more memory). Both sides run the same workloads on the same shapes " +
      "(NHWC in ours, NCHW in PyTorch), batch and repeat counts; see *Method* below.",
    "",
  );
  for (const a of report.archs) {
    const o = a.ours.result;
    const t = a.pytorch?.result ?? null;
    const s = a.settings;
    lines.push(`## ${a.architecture}`, "");
    lines.push(
      `batch ${s.batch}, ${s.rounds} round(s) of paired runs taking turns unit by unit, best of ${s.repeats} per run after ${s.warmups} warm-up call(s), eval over ${s.batch * s.evalBatches} images, PGD warm-up ${s.pgdWarmupSteps} step(s), GAP scoring over ${s.gapInputs} inputs (one timed run), PyTorch threads ${s.threads}` +
        (o ? `, ${o.parameters.toLocaleString("en-US")} parameters` : ""),
      "",
    );
    // The same multiply-add count for both sides: the models are the same.
    const [og, tg] = [gflops(o), gflops(t && { ...t, forwardMultiplyAdds: o?.forwardMultiplyAdds })];
    const typical = medianRepeatRatios(o ?? null, t);
    const ratioCells = (key: keyof Ratios) => {
      const { median: mid, worst } = spread(a.roundRatios, key);
      return `${fmtRatio(a.ratios[key])} | ${fmtRatio(mid)} | ${fmtRatio(worst)} | ${key === "peakRss" ? "" : fmtRatio(typical[key])}`;
    };
    const gflopCells = (key: keyof typeof FORWARDS_PER_IMAGE) => `${fmt(og?.[key])} | ${fmt(tg?.[key])}`;
    lines.push("| metric | ours | PyTorch | ratio, best vs best | median round | worst round | median repeat | ours GFLOP/s | PyTorch GFLOP/s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    lines.push(`| training step (img/s) | ${fmt(o?.trainStep.imagesPerSecond)} | ${fmt(t?.trainStep.imagesPerSecond)} | ${ratioCells("trainStep")} | ${gflopCells("trainStep")} |`);
    lines.push(`| evaluation (img/s) | ${fmt(o?.evaluation.imagesPerSecond)} | ${fmt(t?.evaluation.imagesPerSecond)} | ${ratioCells("evaluation")} | ${gflopCells("evaluation")} |`);
    lines.push(`| PGD-10 (img/s) | ${fmt(o?.pgd10.imagesPerSecond, 2)} | ${fmt(t?.pgd10.imagesPerSecond, 2)} | ${ratioCells("pgd10")} | ${gflopCells("pgd10")} |`);
    lines.push(`| GAP scoring, ${s.gapInputs} inputs (s) | ${fmt(o?.gapScoring.seconds, 2)} | ${fmt(t?.gapScoring.seconds, 2)} | ${ratioCells("gapScoring")} | ${gflopCells("gapScoring")} |`);
    lines.push(`| reference: one 3×3 convolution, 64 → 64 channels over 8×8, batch 128 (GFLOP/s) | | | | | | | ${fmt(o?.referenceGflops)} | ${fmt(t?.referenceGflops)} |`);
    lines.push(`| peak RSS (MiB) | ${fmt(mib(o?.peakRssBytes), 0)} | ${fmt(mib(t?.peakRssBytes), 0)} | ${ratioCells("peakRss")} | | |`);
    lines.push(`| CPU time of the process (s) | ${fmt(o?.cpuSeconds)} | ${fmt(t?.cpuSeconds)} | |`);
    // Both sides of a round share these: they ran together.
    lines.push(`| other work during the rounds (cores busy) | ${fmt(a.ours.otherCoresBusy, 2)}${a.ours.noisy ? " ⚠ noisy" : ""} (${a.ours.attempts} run${a.ours.attempts > 1 ? "s" : ""}) | | |`);
    lines.push(`| other work just before the rounds (cores busy; waited s) | ${fmt(a.ours.quiet.busyCoresBefore, 2)}; ${fmt(a.ours.quiet.waitedSeconds, 0)} | | |`);
    lines.push(`| load average at start → end | ${loads(a.ours.loadAverage)} | | |`);
    lines.push(`| wall time of the round, both processes (s) | ${fmt(a.ours.wallSeconds, 0)} | | |`);
    lines.push("");
    if (o) {
      lines.push(
        `Live tensors before → after each workload (ours): training ${tensors(o.trainStep.tensors)}, evaluation ${tensors(o.evaluation.tensors)}, ` +
          `PGD-10 ${tensors(o.pgd10.tensors)}, GAP scoring ${tensors(o.gapScoring.tensors)}; leaked in total: ${o.tensorLeak ?? "–"}. ` +
          `GAP kept ${o.gapScoring.kept} prunable weights (PyTorch ${t ? t.gapScoring.kept : "–"}).`,
        "",
      );
    }
    if (a.roundRatios.length > 1 && a.pytorch) {
      const per = (key: keyof Ratios) => a.roundRatios.map((r) => fmtRatio(r[key])).join(", ");
      lines.push(
        `Each round's own ratios (its ours run against its PyTorch run): training ${per("trainStep")}; evaluation ${per("evaluation")}; ` +
          `PGD-10 ${per("pgd10")}; GAP scoring ${per("gapScoring")}.`,
        "",
      );
    }
    for (const [side, rec] of [["ours", a.ours], ["PyTorch", a.pytorch]] as const) {
      if (rec?.error) lines.push(`**${side} failed**: ${rec.error} (\`${rec.command.join(" ")}\`)`, "");
    }
    if (!a.pytorch) lines.push(`PyTorch: ${report.pytorch.executable ? "skipped (--no-pytorch)" : "not found"}, ratios null.`, "");
  }
  lines.push("## Method", "");
  lines.push(
    "- Data: synthetic 32×32×3 images in [0, 1], 10 classes; normalization is inside both models. One process per side, architecture and round; the two sides' processes live side by side and load at the same time, but never run units of work at once (see *Rounds*); peak RSS is per process.",
    "- Training step: one SGD step on one batch (train-mode BatchNorm and dropout, mean cross-entropy, lr 0.01, momentum 0.9 Nesterov, weight decay 1e-4, no augmentation), loss and accuracy read back.",
    "- Evaluation: eval-mode forward, argmax and summed loss read back, over `evalBatches` batches.",
    "- PGD-10: generateAdversarialSet on one batch: clean forward, random start, 10 signed-gradient steps of the summed loss w.r.t. the input (eps 8/255, step 2/255, eval-mode BatchNorm, clipped to [0, 1]), forward on the result. Warm-up is `warmups` PGD runs with `pgdWarmupSteps` steps on the same batch: the same kernels on the same shapes, much cheaper than a full PGD-10 warm-up.",
    "- GAP scoring: prune(strategy gap, variant paper, global scope, compression 4) over an adversarial set made untimed by 1-step PGD: the gradient of the summed loss (eval-mode BatchNorm) w.r.t. the prunable parameters, batch by batch (batch size as above), summed, negated, then one global top-k threshold. Timed once, after the other workloads have warmed the same kernels up.",
    "- Rounds: per architecture, `rounds` rounds (ResNet20 3, the others 1; `--rounds` overrides), each a fresh pair of processes, ours and PyTorch, started together. After loading, each process announces its next unit of work (the reference convolution, a workload's warm-up calls, each timed repeat, making GAP's set, GAP scoring) and waits; the comparison lets one side run that unit, then the other side the same unit, the order swapping after every pair (ABBA; ours first in even rounds, PyTorch in odd ones), so only one process computes at a time and each of our timed repeats runs right next to the same repeat of PyTorch's. This VM's speed swings by 20-30% within seconds, and a whole training measurement (5 steps) takes under a second: with the sides run one after the other, a round's ratio caught whichever side met a slow spell. Each side's figures are its best over its rounds; each round's own ratios are listed under the table to show the spread.",
    `- Ratios: *best vs best* divides each side's best over its rounds; *median round* and *worst round* are the median and the lowest of the rounds' own ratios (for peak RSS the highest), so a lead that holds in every round shows in the worst one; *median repeat* divides PyTorch's median timed repeat by ours, all rounds' repeats pooled (GAP scoring: its one timing per round): the typical step rather than the best, which favours the side whose timings spread more. GFLOP/s count 2 FLOPs per multiply-add of the model's convolutions and matrix products in one image's forward pass (counted from the kernels' shapes by forwardMultiplyAdds in ml-core), times forward passes' worth per image: training ${FORWARDS_PER_IMAGE.trainStep}, evaluation ${FORWARDS_PER_IMAGE.evaluation}, PGD-10 ${FORWARDS_PER_IMAGE.pgd10}, GAP scoring ${FORWARDS_PER_IMAGE.gapScoring}; PyTorch's use the same count. The reference row is each side's own rate on one convolution alone: 3×3, 64 channels into 64 over 8×8 pixels at batch 128 (ResNet20's last stage, its fastest shape; PyTorch runs it by oneDNN's direct algorithm, ours by Winograd, which needs fewer multiplications than the count: its figure, like every workload's with 3×3 convs over 64 or more channels, is an effective rate), measured first in the same process, best of 10, best over its rounds. It stands for what this machine's cores give a convolution when nothing else runs: the workloads' distance from it is the layers' less favourable shapes, batch norm, activations and the rest of the step. (Large matrix products are no better a limit here: Debian's PyTorch runs torch.mm at about 7 GFLOP/s, outside oneDNN.)`,
    "- Throughputs are the best of `repeats` timed runs after `warmups` warm-up calls (3). Peak RSS is the process's maxRSS (getrusage). Live tensor counts come from tf.memory().numTensors (PyTorch frees tensors by reference counting and has no such count).",
    `- Sizes: ResNet20 runs the full settings (5 repeats, GAP over 1000 inputs); vgg_bn_drop, googlenet and mobilenet_v2 run 2 repeats and GAP over 256 inputs, so that all four finish in about 15 minutes (their PGD-10 batches take tens of seconds on our side). Command-line flags override these for every architecture.`,
    "- Noise: the machine is shared. *Other work on the CPU* is the machine's busy CPU time (/proc/stat) during the round minus both processes' own CPU time, per second of wall time: near 0 means the round had the machine to itself; on 2 cores, 1 means half of it was taken by something else. Before each round the comparison waits (up to `--wait-quiet` seconds, default 60) for other work to drop below half a core; the table shows how busy the machine was just before the round and how long it waited. A round during which other work averaged more than half a core is marked noisy and repeated (up to `--retry-noisy` times, default 1); each workload then reports its best timing over the attempts (best of all their timed repeats, as within one run), peak RSS the largest, and the noise rows the quietest attempt. PyTorch's OpenMP threads slow down far more than proportionally when a core is taken away, so noisy PyTorch numbers understate it (and inflate the ratios). The load average includes our own processes.",
    "- PyTorch's memory: the reference re-executes itself with glibc's malloc tunables set to keep freed memory (shown on the PyTorch line above). With glibc's defaults every large tensor is unmapped when freed and page-faulted in again on the next step, which made its training step vary between 0.21 and 0.69 s on this machine; kept memory makes it both faster and steady (the effect PyTorch's CPU tuning guide gets from jemalloc or tcmalloc). Our wasm heap keeps its memory anyway. `bench_reference.py --system-malloc` measures the defaults.",
    "- Reference: the issue's one-off PyTorch 1.13 (2 threads) figures for ResNet20 at batch 128 were 217 img/s training, 39 img/s PGD-10, 2,600 img/s evaluation.",
  );
  return lines.join("\n") + "\n";
}

interface Report {
  date: string;
  machine: { nproc: number; cpuModel: string; memoryBytes: number; node: string };
  loadAverage: { start: number[]; end?: number[] };
  pytorch: { executable: string | null; tried: string[] };
  archs: ArchRecord[];
}

function write(report: Report): void {
  writeFileSync(join(outDir, "compare.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(outDir, "compare.md"), markdown(report));
}

// ---- main ----------------------------------------------------------------------------

const python = args["no-pytorch"] ? { executable: null, tried: ["(--no-pytorch)"] } : findPython();
if (!python.executable) console.error(`PyTorch not available (tried ${python.tried.join(", ")}): writing our numbers only, ratios null.`);
const report: Report = {
  date: new Date().toISOString(),
  machine: { nproc: availableParallelism(), cpuModel: cpuModel(), memoryBytes: totalmem(), node: process.version },
  loadAverage: { start: loadavg() },
  pytorch: python,
  archs: [],
};
let failed = false;
for (const arch of archs) {
  const settings = { ...PRESETS[arch as (typeof ARCHS)[number]], ...overrides };
  const rounds = roundsOverride ?? DEFAULT_ROUNDS[arch as (typeof ARCHS)[number]];
  const oursRuns: RunRecord[] = [];
  const torchRuns: RunRecord[] = [];
  for (let round = 0; round < rounds; round++) {
    const oursFile = join(runDir, `ours-${arch}-${round}.json`);
    const ours: Side = { executable: process.execPath, argv: ["--import", "tsx", "src/ml.ts", `--arch=${arch}`, ...sideArgs(settings), "--turns", `--out=${oursFile}`], outFile: oursFile, quietStdout: false };
    const torchFile = join(runDir, `pytorch-${arch}-${round}.json`);
    const torch: Side | null = python.executable
      ? { executable: python.executable, argv: [referenceScript, `--arch=${arch}`, ...sideArgs(settings), `--threads=${threads}`, "--turns", `--out=${torchFile}`], outFile: torchFile, quietStdout: true }
      : null;
    // Ours goes first in even rounds, PyTorch in odd ones.
    const sides = torch ? (round % 2 === 0 ? [ours, torch] : [torch, ours]) : [ours];
    const records = await measure(sides, benchDir);
    oursRuns.push(records[sides.indexOf(ours)]!);
    if (torch) torchRuns.push(records[sides.indexOf(torch)]!);
    if (records.some((r) => r.error)) break;
  }
  const ours = oursRuns.find((r) => r.error) ?? combine(oursRuns);
  const pytorch = torchRuns.length === 0 ? null : (torchRuns.find((r) => r.error) ?? combine(torchRuns));
  const roundRatios = oursRuns.map((o, i) => ratios(o.result, torchRuns[i]?.result ?? null));
  failed ||= !!ours.error || !!pytorch?.error;
  report.archs.push({ architecture: arch, settings: { ...settings, threads, rounds }, ours, pytorch, ratios: ratios(ours.result, pytorch?.result ?? null), roundRatios });
  write(report);
}
report.loadAverage.end = loadavg();
write(report);
console.log(readFileSync(join(outDir, "compare.md"), "utf8"));
console.log(`-> ${join(outDir, "compare.json")}, ${join(outDir, "compare.md")}`);
if (failed) process.exitCode = 1;
