import * as tf from "@tensorflow/tfjs-core";
import { Rng, type Checkpoints, type Dataset, type Model, type ParamEntry } from "@gap/ml-core";
import { sumGradients } from "./gradients.js";
import type { Scores } from "./masks.js";
import { STRATEGY_SCOPES, type Scope, type StrategyName } from "./scopes.js";

export { scopeProblem, type Scope, type StrategyName } from "./scopes.js";
/** "paper": the paper's equations; "reference_code": the authors' code (reference-implementation.md). */
export type Variant = "paper" | "reference_code";

export interface ScoringInput {
  model: Model;
  /** The prunable parameters, in model order. */
  params: readonly ParamEntry[];
  scope: Scope;
  variant: Variant;
  /** Clean scoring data (gradient) or the adversarial set (GAP). */
  data?: Dataset;
  batchSize: number;
  seed: number;
  /** Where scoring over data keeps its partial sums (see sumGradients). */
  checkpoints?: Checkpoints;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** A pruning strategy is one scoring function s(θ); eq. (1) then keeps the highest scores. */
export interface PruningStrategy {
  readonly name: StrategyName;
  readonly scopes: readonly Scope[];
  score(input: ScoringInput): Promise<Scores>;
  /** Whether s(θ) depends on the scope; scores that do not serve both scopes' masks. */
  scoresDependOnScope(variant: Variant): boolean;
}

async function weights(params: readonly ParamEntry[]) {
  return Promise.all(params.map(async (p) => [p.name, (await p.variable.data()) as Float32Array] as const));
}

/**
 * f of every value, into new arrays (data() may hand out a backend's own storage, so
 * never in place). A plain loop: TypedArray.map with a callback took ~25 ns a value.
 */
function mapScores(arrays: Iterable<readonly [string, Float32Array]>, f: (v: number) => number): Scores {
  const scores = new Map<string, Float32Array>();
  for (const [name, values] of arrays) {
    const out = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = f(values[i]!);
    scores.set(name, out);
  }
  return scores;
}

function requireData(input: ScoringInput, strategy: string): Dataset {
  if (!input.data || input.data.count === 0) throw new Error(`${strategy} pruning needs scoring data`);
  return input.data;
}

/** Uniform random scores: a seeded random subset of exactly the kept size. */
export class RandomPruning implements PruningStrategy {
  readonly name = "random";
  readonly scopes = STRATEGY_SCOPES.random;
  scoresDependOnScope = () => false;
  async score({ params, seed }: ScoringInput): Promise<Scores> {
    const rng = new Rng(seed);
    return new Map(params.map((p) => [p.name, Float32Array.from({ length: p.variable.size }, () => rng.nextFloat())]));
  }
}

/** Eq. (2): s = |θ|. */
export class MagnitudePruning implements PruningStrategy {
  readonly name = "magnitude";
  readonly scopes = STRATEGY_SCOPES.magnitude;
  scoresDependOnScope = () => false;
  async score({ params }: ScoringInput): Promise<Scores> {
    return mapScores(await weights(params), Math.abs);
  }
}

/**
 * Eq. (3): s = Σ_(x,y)∈D |∇_θ L(θ, x, y)|, example by example, BatchNorm in eval mode.
 * reference_code: s = |θ · ∇_θ L| on ONE batch (mean loss), BatchNorm in training mode.
 */
export class GradientPruning implements PruningStrategy {
  readonly name = "gradient";
  readonly scopes = STRATEGY_SCOPES.gradient;
  scoresDependOnScope = () => false;
  async score(input: ScoringInput): Promise<Scores> {
    const data = requireData(input, "gradient");
    if (input.variant === "paper") {
      // One example per batch: the absolute value is taken per example, before the sum over the data.
      return sumGradients(input.model, input.params, data, { ...input, batchSize: 1, training: false, reduction: "sum", eachBatch: tf.abs });
    }
    const grads = await sumGradients(input.model, input.params, data, { ...input, training: true, reduction: "mean", maxBatches: 1 });
    const w = new Map(await weights(input.params));
    return new Map([...grads].map(([name, g]) => [name, g.map((gi, i) => Math.abs(gi * w.get(name)![i]!))]));
  }
}

/**
 * Eq. (4), Greedy Adversarial Pruning: s = Σ_(x,y)∈D −∇_θ L(θ, x_adv, y) over
 * the adversarial set, signed, so the highest positive adversarial gradients
 * have the lowest scores and are pruned.
 * reference_code: BatchNorm in training mode, mean loss per batch; layerwise
 * scope scores by |Σ ∇L| instead of the signed sum. (The authors' code also
 * lets its inner PGD steps add into the parameter gradients; that accident is
 * not reproduced: scores here come from the stored adversarial set alone.)
 */
export class GreedyAdversarialPruning implements PruningStrategy {
  readonly name = "gap";
  readonly scopes = STRATEGY_SCOPES.gap;
  scoresDependOnScope = (variant: Variant) => variant === "reference_code";
  async score(input: ScoringInput): Promise<Scores> {
    const data = requireData(input, "GAP");
    const reference = input.variant === "reference_code";
    // The sum over the data of ∇L is linear, so whole batches of summed loss give it.
    const grads = await sumGradients(input.model, input.params, data, { ...input, training: reference, reduction: reference ? "mean" : "sum" });
    return mapScores(grads, reference && input.scope === "layer" ? Math.abs : (g) => -g);
  }
}

export const STRATEGIES: { readonly [name in StrategyName]: PruningStrategy } = {
  random: new RandomPruning(),
  magnitude: new MagnitudePruning(),
  gradient: new GradientPruning(),
  gap: new GreedyAdversarialPruning(),
};
