import type { Masks, Model } from "@gap/ml-core";
import { apportion, keptPrunableCount } from "./compression.js";
import { globalMasks, layerwiseMasks, type Scores } from "./masks.js";
import { scopeProblem, STRATEGIES, type ScoringInput, type StrategyName } from "./strategies.js";

/** What scoring takes (scope, variant, data, batch size, seed, ...), plus the strategy and p. */
export interface PruneOptions extends Omit<ScoringInput, "model" | "params"> {
  strategy: StrategyName;
  /** Compression ratio p (all parameters before / after). */
  compression: number;
}

export interface LayerReport {
  name: string;
  kept: number;
  total: number;
  fraction: number;
}

export interface PruneReport {
  layers: LayerReport[];
  totalParameters: number;
  prunableParameters: number;
  /** Non-prunable parameters plus kept prunable ones. */
  nonzeroParameters: number;
  /** Dense fp32 bytes of the nonzero parameters. */
  sizeBytes: number;
  realizedCompression: number;
}

/** The scores s(θ) of the prunable parameters (eqs. 2-4); they do not depend on the ratio. */
export async function scoreParameters(model: Model, options: PruneOptions): Promise<Scores> {
  const strategy = STRATEGIES[options.strategy];
  if (!strategy) throw new Error(`unknown pruning strategy ${options.strategy}`);
  const problem = scopeProblem(options.strategy, options.scope);
  if (problem) throw new Error(problem);
  return strategy.score({ model, params: model.params.filter((p) => p.prunable), ...options });
}

/** Eq. (1) on given scores: the masks that keep the prunable weights the ratio allows. */
export function masksFromScores(model: Model, scores: Scores, options: Pick<PruneOptions, "strategy" | "scope" | "variant" | "compression">) {
  const params = model.params.filter((p) => p.prunable);
  const totalParameters = model.params.reduce((sum, p) => sum + p.variable.size, 0);
  const prunableParameters = params.reduce((sum, p) => sum + p.variable.size, 0);
  const keep = keptPrunableCount(totalParameters, prunableParameters, options.compression);
  let masks: Masks;
  if (options.strategy === "random" && options.variant === "reference_code") {
    // The authors' random pruning keeps each weight with probability keep/prunable: counts are approximate.
    const fraction = keep / prunableParameters;
    masks = new Map([...scores].map(([name, s]) => [name, Uint8Array.from(s, (u) => (u < fraction ? 1 : 0))]));
  } else if (options.scope === "global") {
    masks = globalMasks(scores, keep);
  } else {
    masks = layerwiseMasks(scores, keep, apportion);
  }
  return { masks, report: pruneReport(model, masks) };
}

/** Single-shot pruning of the prunable parameters: score (eqs. 2-4), then threshold (eq. 1). */
export async function prune(model: Model, options: PruneOptions): Promise<{ masks: Masks; report: PruneReport }> {
  return masksFromScores(model, await scoreParameters(model, options), options);
}

/** Per-layer kept counts and the totals for a set of masks. */
export function pruneReport(model: Model, masks: ReadonlyMap<string, Uint8Array>): PruneReport {
  const totalParameters = model.params.reduce((sum, p) => sum + p.variable.size, 0);
  const layers: LayerReport[] = [];
  let prunableParameters = 0;
  let keptPrunable = 0;
  for (const p of model.params) {
    const mask = masks.get(p.name);
    if (!mask) continue;
    let kept = 0;
    for (let i = 0; i < mask.length; i++) kept += mask[i]!;
    layers.push({ name: p.name, kept, total: mask.length, fraction: kept / mask.length });
    prunableParameters += mask.length;
    keptPrunable += kept;
  }
  const nonzeroParameters = totalParameters - prunableParameters + keptPrunable;
  return {
    layers,
    totalParameters,
    prunableParameters,
    nonzeroParameters,
    sizeBytes: nonzeroParameters * 4,
    realizedCompression: totalParameters / nonzeroParameters,
  };
}
