/** Where each strategy may rank parameters: random pruning is global only. Free of TensorFlow.js. */
export type Scope = "global" | "layer";

export const STRATEGY_SCOPES = {
  random: ["global"],
  magnitude: ["global", "layer"],
  gradient: ["global", "layer"],
  gap: ["global", "layer"],
} as const satisfies Record<string, readonly Scope[]>;
export type StrategyName = keyof typeof STRATEGY_SCOPES;

/** Why a strategy cannot take a scope, or undefined when it can. */
export function scopeProblem(strategy: StrategyName, scope: Scope): string | undefined {
  const scopes: readonly Scope[] = STRATEGY_SCOPES[strategy];
  return scopes.includes(scope) ? undefined : `${strategy} pruning has no ${scope} scope (only ${scopes.join(", ")})`;
}
