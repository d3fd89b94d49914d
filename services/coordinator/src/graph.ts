import { Architecture, PruningStrategy, Split, type ArtifactRef, type DatasetRef, type ExperimentSpec, type StrategyScope } from "@gap/proto";
import { deriveSeed } from "@gap/ml-core/no-tf";
import { ARCHITECTURE_NAMES, SCOPE_NAMES, STRATEGY_NAMES } from "@gap/compute/no-tf";

import type { StepKind, StepOutput, StepRequest } from "./step-kinds.js";

/**
 * What each trial's seed is salted with for each use, so that the streams of
 * random numbers differ (the values are part of every step's hash: changing
 * one changes the experiment).
 */
export const SEED_SALTS = { attack: 1, calibration: 2, pruning: 3, fineTuning: 4, fineTuningSubset: 5 } as const;

/** Which cell of the result table a step fills. */
export interface RowKey {
  architecture: Architecture;
  strategy?: StrategyScope;
  compressionRatio: number;
  trial: number;
  quantized: boolean;
}
export type Metric = "clean" | "adversarial" | "transfer" | "held_out_transfer" | "size";

export interface Step<K extends StepKind = StepKind> {
  /** Readable and unique, e.g. "resnet20/t0/gap-global/p4/finetune". */
  id: string;
  kind: K;
  deps: string[];
  /** The request, from the finished dependencies' outputs. */
  request(outputs: ReadonlyMap<string, StepOutput>): StepRequest<K>;
  /** Result-table cells this step's output fills. */
  fills: Array<{ row: RowKey; metric: Metric }>;
  /** The row a step works toward without filling a cell of it (fine-tuning: its curve in the report). */
  forRow?: RowKey;
}

const artifactOf = (outputs: ReadonlyMap<string, StepOutput>, id: string): ArtifactRef => {
  const artifact = outputs.get(id)?.artifact;
  if (!artifact) throw new Error(`step ${id} has no output artifact`);
  return artifact;
};

export function strategyLabel(s: StrategyScope): string {
  return `${STRATEGY_NAMES[s.strategy]}-${SCOPE_NAMES[s.scope]}`;
}

/** The id under which an architecture's given base weights enter the graph. */
export const baseWeightsId = (arch: string) => `${arch}/base-weights`;

/** What the graph starts from instead of computing it: the spec's base weights, by id. */
export function graphInputs(spec: ExperimentSpec): Map<string, StepOutput> {
  return new Map(
    spec.baseWeights.map((entry) => {
      if (!entry.weights?.sha256) throw new Error(`base weights of ${ARCHITECTURE_NAMES[entry.architecture]} have no sha256 (resolve them first)`);
      return [baseWeightsId(ARCHITECTURE_NAMES[entry.architecture]!), { artifact: entry.weights }];
    }),
  );
}

/** Steps per cell (strategy, ratio): prune, fine-tune, evaluate, attack, 3 evaluations, quantize, 4 int8 evaluations. */
const STEPS_PER_CELL = 12;

/** How many steps buildGraph makes of a spec, without building them (to refuse huge grids first). */
export function stepCount(spec: ExperimentSpec): number {
  const heldOut = spec.heldOutLimit > 0 ? 1 : 0;
  let total = 0;
  for (const architecture of spec.architectures) {
    const trained = spec.baseWeights.some((entry) => entry.architecture === architecture) ? 0 : 1;
    // Base: train, attack, held-out attack, evaluate, quantize, int8 evaluate, int8 adversarial (= transfer), int8 held-out.
    const base = trained + 1 + heldOut + 1 + 1 + 1 + 1 + heldOut;
    const cell = STEPS_PER_CELL - (heldOut ? 0 : 2);
    total += spec.trials * (base + spec.strategies.length * spec.compressionRatios.length * cell);
  }
  return total;
}

/**
 * The experiment as a dependency graph. Per architecture and trial: train
 * (unless the spec gives base weights, which every trial then starts from),
 * attack the training subset and the held-out test subset, evaluate and
 * quantize the base model; per strategy and ratio: prune, fine-tune, evaluate
 * clean / transfer / held-out transfer, attack the pruned model, quantize and
 * evaluate the quantized model on the same inputs (attacked through its float
 * counterpart, as in the paper).
 */
export function buildGraph(spec: ExperimentSpec): Step[] {
  const steps: Step[] = [];
  const add = <K extends StepKind>(step: Step<K>) => {
    steps.push(step as unknown as Step);
    return step.id;
  };
  const attackLimitRef = (seed: number): DatasetRef =>
    ({ ...spec.trainData!, split: Split.TRAIN, subsetSize: spec.attackLimit, seed: BigInt(seed) }) as DatasetRef;

  for (const architecture of spec.architectures) {
    const arch = ARCHITECTURE_NAMES[architecture]!;
    const model = { architecture, numClasses: spec.numClasses, inputShape: spec.inputShape };
    const givenWeights = spec.baseWeights.some((entry) => entry.architecture === architecture);
    for (let trial = 0; trial < spec.trials; trial++) {
      const seed = deriveSeed(Number(spec.seed), architecture, trial);
      const prefix = `${arch}/t${trial}`;
      const baseRow = (quantized: boolean): RowKey => ({ architecture, compressionRatio: 1, trial, quantized });

      const train = givenWeights
        ? baseWeightsId(arch)
        : add({
            id: `${prefix}/train`,
            kind: "train",
            deps: [],
            request: () => ({ model, trainData: spec.trainData, config: { ...spec.training!, seed: BigInt(seed) }, fromScratch: true }),
            fills: [],
          });
      const attackOn = (id: string, weights: string, mask: string | undefined, source: DatasetRef, fills: Step["fills"]) =>
        add({
          id,
          kind: "attack",
          deps: mask ? [weights, mask] : [weights],
          request: (o) => ({
            model,
            weights: artifactOf(o, weights),
            mask: mask ? artifactOf(o, mask) : undefined,
            source,
            config: { ...spec.attack!, seed: BigInt(deriveSeed(seed, SEED_SALTS.attack)) },
          }),
          fills,
        });
      const evaluate = (
        id: string,
        weights: string,
        mask: string | undefined,
        quantized: boolean,
        on: { dataset: DatasetRef } | { set: string },
        fills: Step["fills"],
      ) =>
        add({
          id,
          kind: "evaluate",
          deps: [weights, ...(mask ? [mask] : []), ...("set" in on ? [on.set] : [])],
          request: (o) => ({
            model,
            weights: artifactOf(o, weights),
            mask: mask ? artifactOf(o, mask) : undefined,
            quantized,
            dataset: "dataset" in on ? on.dataset : undefined,
            adversarialSet: "set" in on ? artifactOf(o, on.set) : undefined,
            batchSize: spec.evalBatchSize,
          }),
          fills,
        });
      const quantize = (id: string, weights: string, mask: string | undefined, fills: Step["fills"]) =>
        add({
          id,
          kind: "quantize",
          deps: mask ? [weights, mask] : [weights],
          request: (o) => ({
            model,
            weights: artifactOf(o, weights),
            mask: mask ? artifactOf(o, mask) : undefined,
            config: spec.quantization,
            calibrationData: { ...spec.trainData!, split: Split.TRAIN, subsetSize: spec.quantization!.calibrationSize, seed: BigInt(deriveSeed(seed, SEED_SALTS.calibration)) },
          }),
          fills,
        });

      const testData = { ...spec.testData!, seed: BigInt(seed) } as DatasetRef;
      const transferSet = attackOn(`${prefix}/attack`, train, undefined, attackLimitRef(seed), [
        { row: baseRow(false), metric: "adversarial" },
        { row: baseRow(false), metric: "transfer" },
      ]);
      const heldOutSet =
        spec.heldOutLimit > 0
          ? attackOn(`${prefix}/attack-held-out`, train, undefined, { ...spec.testData!, split: Split.TEST, subsetSize: spec.heldOutLimit, seed: BigInt(seed) } as DatasetRef, [
              { row: baseRow(false), metric: "held_out_transfer" },
            ])
          : undefined;
      evaluate(`${prefix}/evaluate`, train, undefined, false, { dataset: testData }, [{ row: baseRow(false), metric: "clean" }]);

      /** Adversarial, transfer and held-out transfer accuracy of one model. */
      const evaluateOnSets = (at: string, weights: string, mask: string | undefined, quantized: boolean, row: RowKey, ownSet: string) => {
        if (ownSet === transferSet) {
          // The unpruned model's own inputs are the transfer inputs: one evaluation fills both.
          evaluate(`${at}/evaluate-adversarial`, weights, mask, quantized, { set: ownSet }, [{ row, metric: "adversarial" }, { row, metric: "transfer" }]);
        } else {
          evaluate(`${at}/evaluate-adversarial`, weights, mask, quantized, { set: ownSet }, [{ row, metric: "adversarial" }]);
          evaluate(`${at}/evaluate-transfer`, weights, mask, quantized, { set: transferSet }, [{ row, metric: "transfer" }]);
        }
        if (heldOutSet) evaluate(`${at}/evaluate-held-out`, weights, mask, quantized, { set: heldOutSet }, [{ row, metric: "held_out_transfer" }]);
      };
      /** The int8 model; its adversarial inputs are those made on its float counterpart. */
      const quantizedVariant = (at: string, weights: string, mask: string | undefined, row: (q: boolean) => RowKey, ownSet: string) => {
        const quantized = quantize(`${at}/quantize`, weights, mask, [{ row: row(true), metric: "size" }]);
        evaluate(`${at}/quantized/evaluate`, quantized, undefined, true, { dataset: testData }, [{ row: row(true), metric: "clean" }]);
        evaluateOnSets(`${at}/quantized`, quantized, undefined, true, row(true), ownSet);
      };
      // The base model's own set is the transfer set, so the attack's counts fill both.
      quantizedVariant(prefix, train, undefined, baseRow, transferSet);

      for (const pair of spec.strategies) {
        for (const compressionRatio of spec.compressionRatios) {
          const at = `${prefix}/${strategyLabel(pair)}/p${compressionRatio}`;
          const row = (quantized: boolean): RowKey => ({ architecture, strategy: pair, compressionRatio, trial, quantized });
          const needsSet = pair.strategy === PruningStrategy.GAP;
          const prune = add({
            id: `${at}/prune`,
            kind: "prune",
            deps: needsSet ? [train, transferSet] : [train],
            request: (o) => ({
              model,
              weights: artifactOf(o, train),
              strategy: pair,
              compressionRatio,
              scoringData: pair.strategy === PruningStrategy.GRADIENT ? attackLimitRef(seed) : undefined,
              adversarialSet: needsSet ? artifactOf(o, transferSet) : undefined,
              variant: spec.variant,
              seed: BigInt(deriveSeed(seed, SEED_SALTS.pruning)),
              batchSize: spec.evalBatchSize,
            }),
            fills: [{ row: row(false), metric: "size" }],
          });
          const finetune = add({
            id: `${at}/finetune`,
            kind: "train",
            deps: [train, prune],
            request: (o) => ({
              model,
              trainData: spec.fineTuningSubsetSize
                ? ({ ...spec.trainData!, subsetSize: spec.fineTuningSubsetSize, seed: BigInt(deriveSeed(seed, SEED_SALTS.fineTuningSubset)) } as DatasetRef)
                : spec.trainData,
              config: { ...spec.fineTuning!, seed: BigInt(deriveSeed(seed, SEED_SALTS.fineTuning)) },
              initialWeights: artifactOf(o, train),
              mask: artifactOf(o, prune),
            }),
            fills: [],
            forRow: row(false),
          });
          evaluate(`${at}/evaluate`, finetune, prune, false, { dataset: testData }, [{ row: row(false), metric: "clean" }]);
          const ownSet = attackOn(`${at}/attack`, finetune, prune, attackLimitRef(seed), []);
          evaluateOnSets(at, finetune, prune, false, row(false), ownSet);
          quantizedVariant(at, finetune, prune, row, ownSet);
        }
      }
    }
  }
  return steps;
}
