// The projection behind bench:grid: the coordinator's own step graph for a spec, each step
// priced by the images it pushes through one measured workload (see grid.ts for the prices).
import { baseWeightsId, buildGraph, type Step, type StepOutput } from "@gap/coordinator";
import { ARCHITECTURE_NAMES } from "@gap/compute";
import { DatasetName, PruningStrategy, Split, type ArtifactRef, type DatasetRef, type ExperimentSpec } from "@gap/proto";
import { median } from "./stats.js";

/** Split sizes: the official CIFAR-10 (which the paper's grid uses), the committed sample, Fashion-MNIST. */
const SPLIT_SIZES: Partial<Record<DatasetName, { train: number; test: number }>> = {
  [DatasetName.CIFAR10]: { train: 50_000, test: 10_000 },
  [DatasetName.CIFAR10_SAMPLE]: { train: 2_000, test: 1_000 },
  [DatasetName.FASHION_MNIST]: { train: 60_000, test: 10_000 },
  [DatasetName.SYNTHETIC]: { train: 2_000, test: 2_000 },
};

export function imagesOf(ref: DatasetRef | undefined): number {
  if (!ref) throw new Error("step without a dataset");
  if (ref.subsetSize > 0) return ref.subsetSize;
  const sizes = SPLIT_SIZES[ref.name];
  if (!sizes) throw new Error(`no split sizes for dataset ${DatasetName[ref.name]}`);
  return ref.split === Split.TRAIN ? sizes.train : sizes.test;
}

/** Per-image seconds of each workload, from one bench:ml result. */
export interface Rates {
  train: number;
  evaluate: number;
  pgd10: number;
  gapInput: number;
}
/** A workload's best rate, and the seconds of every timed repeat (each of the same images). */
interface Timed {
  imagesPerSecond: number;
  seconds?: number[];
}
export interface MlResult {
  architecture: string;
  trainStep: Timed;
  evaluation: Timed;
  pgd10: Timed;
  /** bench:compare pools every round's timings in secondsPerAttempt. */
  gapScoring: { inputs: number; seconds: number; secondsPerAttempt?: number[] };
}
export const ratesOf = (r: MlResult): Rates => ({
  train: 1 / r.trainStep.imagesPerSecond,
  evaluate: 1 / r.evaluation.imagesPerSecond,
  pgd10: 1 / r.pgd10.imagesPerSecond,
  gapInput: r.gapScoring.seconds / r.gapScoring.inputs,
});

/**
 * Per-image seconds at each workload's median timed repeat instead of its best (bench:compare's
 * "median repeat": every round's repeats pooled): what a run meets on a VM whose speed drifts.
 * The best repeat's rate fixes the images per repeat. Null without the repeats' timings.
 */
export function typicalRatesOf(r: MlResult): Rates | null {
  const perImage = (w: Timed) => (w.seconds?.length ? median(w.seconds)! / (Math.min(...w.seconds) * w.imagesPerSecond) : null);
  const [train, evaluate, pgd10] = [perImage(r.trainStep), perImage(r.evaluation), perImage(r.pgd10)];
  if (train === null || evaluate === null || pgd10 === null) return null;
  return { train, evaluate, pgd10, gapInput: median(r.gapScoring.secondsPerAttempt ?? [r.gapScoring.seconds])! / r.gapScoring.inputs };
}

export type Kind = Step["kind"];
export const KINDS: Kind[] = ["train", "attack", "prune", "quantize", "evaluate"];

/** Images per workload of every step, and which architecture it belongs to. */
export interface StepWork {
  architecture: string;
  kind: Kind;
  workload: keyof Rates | null;
  images: number;
}

export function stepWork(spec: ExperimentSpec): StepWork[] {
  const steps = buildGraph(spec);
  // Every step's output (and every given base model) stands for itself, so requests name the steps they read.
  const ids = [...spec.baseWeights.map((b) => baseWeightsId(ARCHITECTURE_NAMES[b.architecture]!)), ...steps.map((s) => s.id)];
  const outputs = new Map<string, StepOutput>(ids.map((id) => [id, { artifact: { bucket: "", key: id } as ArtifactRef }]));
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
export function project(work: StepWork[], rates: Map<string, Rates>): Map<string, Record<Kind, number>> | null {
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
