// nx run bench:grid -- [--spec paper] [--compare ../../bench-results/compare.json] [--before DIR]
// Projects the wall time of a whole experiment from measured throughputs: the coordinator's
// own step graph for the spec (buildGraph), each step priced by the images it pushes through
// one workload of bench:ml / bench:compare, steps one after another on one machine like the
// one measured. Writes bench-results/grid-<spec>.{json,md}.
//
// Sides: "ours" and "PyTorch" from compare.json; "before" from --before DIR, holding
// bench:ml results (ml-<arch>*.json), e.g. measured with GAP_NATIVE=0.
//
// Prices (images per step, at the workload's measured img/s):
//   train     epochs x training images, at the training-step rate
//   attack    source images, at the PGD-10 rate (scaled by steps / 10)
//   evaluate  dataset or adversarial-set images, at the evaluation rate (int8 models too)
//   quantize  calibration images, at the evaluation rate
//   prune     gap and gradient: scoring inputs at the GAP-scoring rate (one gradient per
//             input, the same work for both); magnitude and random: free
// Not priced: process start, data loading, store I/O, the coordinator's concurrency, and the
// difference between batch 128 (measured) and the spec's batch sizes.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildGraph, loadSpec, type Step, type StepOutput } from "@gap/coordinator";
import { ARCHITECTURE_NAMES } from "@gap/compute";
import { DatasetName, PruningStrategy, Split, type ArtifactRef, type DatasetRef } from "@gap/proto";

const { values: args } = parseArgs({
  options: {
    spec: { type: "string", default: "paper" },
    compare: { type: "string", default: "../../bench-results/compare.json" },
    before: { type: "string" },
  },
});

/** Split sizes: the official CIFAR-10 (which the paper's grid uses), the committed sample, Fashion-MNIST. */
const SPLIT_SIZES: Partial<Record<DatasetName, { train: number; test: number }>> = {
  [DatasetName.CIFAR10]: { train: 50_000, test: 10_000 },
  [DatasetName.CIFAR10_SAMPLE]: { train: 2_000, test: 1_000 },
  [DatasetName.FASHION_MNIST]: { train: 60_000, test: 10_000 },
  [DatasetName.SYNTHETIC]: { train: 2_000, test: 2_000 },
};

function imagesOf(ref: DatasetRef | undefined): number {
  if (!ref) throw new Error("step without a dataset");
  if (ref.subsetSize > 0) return ref.subsetSize;
  const sizes = SPLIT_SIZES[ref.name];
  if (!sizes) throw new Error(`no split sizes for dataset ${DatasetName[ref.name]}`);
  return ref.split === Split.TRAIN ? sizes.train : sizes.test;
}

/** Per-image seconds of each workload, from one bench:ml result. */
interface Rates {
  train: number;
  evaluate: number;
  pgd10: number;
  gapInput: number;
}
interface MlResult {
  architecture: string;
  trainStep: { imagesPerSecond: number };
  evaluation: { imagesPerSecond: number };
  pgd10: { imagesPerSecond: number };
  gapScoring: { inputs: number; seconds: number };
}
const ratesOf = (r: MlResult): Rates => ({
  train: 1 / r.trainStep.imagesPerSecond,
  evaluate: 1 / r.evaluation.imagesPerSecond,
  pgd10: 1 / r.pgd10.imagesPerSecond,
  gapInput: r.gapScoring.seconds / r.gapScoring.inputs,
});

type Kind = Step["kind"];
const KINDS: Kind[] = ["train", "attack", "prune", "quantize", "evaluate"];

/** Images per workload of every step, and which architecture it belongs to. */
interface StepWork {
  architecture: string;
  kind: Kind;
  workload: keyof Rates | null;
  images: number;
}

function stepWork(spec: ReturnType<typeof loadSpec>): StepWork[] {
  const steps = buildGraph(spec);
  // Every step's output stands for itself, so requests name the steps they read.
  const outputs = new Map<string, StepOutput>(steps.map((s) => [s.id, { artifact: { bucket: "", key: s.id } as ArtifactRef }]));
  const attackImages = new Map<string, number>();
  const work: StepWork[] = [];
  for (const step of steps) {
    const request = step.request(outputs) as Record<string, unknown> & { model: { architecture: number } };
    const architecture = ARCHITECTURE_NAMES[request.model.architecture as keyof typeof ARCHITECTURE_NAMES] ?? "?";
    const setImages = (ref: unknown) => {
      const n = attackImages.get((ref as ArtifactRef).key);
      if (n === undefined) throw new Error(`${step.id} reads ${(ref as ArtifactRef).key} before it is made`);
      return n;
    };
    let workload: keyof Rates | null;
    let images: number;
    switch (step.kind) {
      case "train": {
        const r = request as unknown as { trainData: DatasetRef; config: { epochs: number } };
        [workload, images] = ["train", r.config.epochs * imagesOf(r.trainData)];
        break;
      }
      case "attack": {
        const r = request as unknown as { source: DatasetRef; config: { steps: number } };
        attackImages.set(step.id, imagesOf(r.source));
        [workload, images] = ["pgd10", (imagesOf(r.source) * r.config.steps) / 10];
        break;
      }
      case "evaluate": {
        const r = request as unknown as { dataset?: DatasetRef; adversarialSet?: ArtifactRef };
        [workload, images] = ["evaluate", r.adversarialSet ? setImages(r.adversarialSet) : imagesOf(r.dataset)];
        break;
      }
      case "quantize":
        [workload, images] = ["evaluate", imagesOf((request as unknown as { calibrationData: DatasetRef }).calibrationData)];
        break;
      case "prune": {
        const r = request as unknown as { strategy: { strategy: PruningStrategy }; adversarialSet?: ArtifactRef; scoringData?: DatasetRef };
        if (r.strategy.strategy === PruningStrategy.GAP) [workload, images] = ["gapInput", setImages(r.adversarialSet)];
        else if (r.strategy.strategy === PruningStrategy.GRADIENT) [workload, images] = ["gapInput", imagesOf(r.scoringData)];
        else [workload, images] = [null, 0];
        break;
      }
    }
    work.push({ architecture, kind: step.kind, workload, images });
  }
  return work;
}

/** Seconds per architecture and step kind for one side. */
function project(work: StepWork[], rates: Map<string, Rates>): Map<string, Record<Kind, number>> | null {
  const out = new Map<string, Record<Kind, number>>();
  for (const w of work) {
    const r = rates.get(w.architecture);
    if (!r) return null;
    const row = out.get(w.architecture) ?? { train: 0, attack: 0, prune: 0, quantize: 0, evaluate: 0 };
    row[w.kind] += w.workload ? w.images * r[w.workload] : 0;
    out.set(w.architecture, row);
  }
  return out;
}

// ---- sides ---------------------------------------------------------------------------

const sides: Array<{ name: string; source: string; rates: Map<string, Rates> }> = [];
const comparePath = resolve(import.meta.dirname, "..", args.compare!);
if (existsSync(comparePath)) {
  const compare = JSON.parse(readFileSync(comparePath, "utf8")) as { archs: Array<{ architecture: string; ours: { result: MlResult | null }; pytorch: { result: MlResult | null } | null }> };
  for (const [name, pick] of [
    ["ours", (a: (typeof compare.archs)[number]) => a.ours.result],
    ["PyTorch", (a: (typeof compare.archs)[number]) => a.pytorch?.result ?? null],
  ] as const) {
    const rates = new Map<string, Rates>();
    for (const a of compare.archs) {
      const r = pick(a);
      if (r) rates.set(a.architecture, ratesOf(r));
    }
    sides.push({ name, source: comparePath, rates });
  }
}
if (args.before) {
  const dir = resolve(args.before);
  const rates = new Map<string, Rates>();
  for (const file of readdirSync(dir).filter((f) => f.startsWith("ml-") && f.endsWith(".json"))) {
    const r = JSON.parse(readFileSync(join(dir, file), "utf8")) as MlResult;
    rates.set(r.architecture, ratesOf(r));
  }
  sides.push({ name: "before", source: dir, rates });
}
if (sides.length === 0) throw new Error(`nothing to project from: no ${comparePath} and no --before`);

const spec = loadSpec(args.spec!);
const work = stepWork(spec);
const architectures = [...new Set(work.map((w) => w.architecture))];
const projections = sides.map((s) => ({ name: s.name, source: s.source, seconds: project(work, s.rates) }));

const duration = (s: number) =>
  s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : s < 259_200 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86_400).toFixed(1)} d`;
const lines = [`# Projected wall time of the "${spec.name}" experiment`, ""];
lines.push(
  `${work.length} steps (${KINDS.map((k) => `${work.filter((w) => w.kind === k).length} ${k}`).join(", ")}), run one after another on one machine like the one measured,`,
  `each priced at the throughput measured for its workload (tools/bench/src/grid.ts says how).`,
  "",
);
lines.push(`| architecture | ${projections.map((p) => p.name).join(" | ")} |`, `|---|${projections.map(() => "---:").join("|")}|`);
const total = (p: (typeof projections)[number], arch?: string) =>
  p.seconds ? [...p.seconds.entries()].filter(([a]) => !arch || a === arch).reduce((s, [, row]) => s + KINDS.reduce((t, k) => t + row[k], 0), 0) : NaN;
for (const arch of [...architectures, undefined]) {
  lines.push(`| ${arch ?? "**all**"} | ${projections.map((p) => (p.seconds ? duration(total(p, arch)) : "–")).join(" | ")} |`);
}
lines.push("", "By step kind (all architectures):", "");
lines.push(`| step kind | steps | ${projections.map((p) => p.name).join(" | ")} |`, `|---|---:|${projections.map(() => "---:").join("|")}|`);
for (const kind of KINDS) {
  const cells = projections.map((p) => (p.seconds ? duration([...p.seconds.values()].reduce((s, row) => s + row[kind], 0)) : "–"));
  lines.push(`| ${kind} | ${work.filter((w) => w.kind === kind).length} | ${cells.join(" | ")} |`);
}
lines.push("", ...projections.map((p) => `- ${p.name}: ${p.source}${p.seconds ? "" : " (lacks an architecture of the spec)"}`));

const outDir = resolve(import.meta.dirname, "../../../bench-results");
mkdirSync(outDir, { recursive: true });
const json = {
  spec: spec.name,
  steps: work.length,
  sides: projections.map((p) => ({
    name: p.name,
    source: p.source,
    totalSeconds: total(p),
    seconds: p.seconds ? Object.fromEntries(p.seconds) : null,
  })),
};
writeFileSync(join(outDir, `grid-${spec.name}.json`), JSON.stringify(json, null, 2) + "\n");
writeFileSync(join(outDir, `grid-${spec.name}.md`), lines.join("\n") + "\n");
console.log(lines.join("\n"));
