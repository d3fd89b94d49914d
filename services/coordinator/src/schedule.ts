import type { Step } from "./graph.js";
import { STEP_KINDS } from "./step-kinds.js";

/** Each step's longest chain of steps that wait on it, itself included (1: nothing waits on it). */
export function chainLengths(steps: readonly Step[]): Map<string, number> {
  const waiting = new Map<string, Step[]>();
  for (const step of steps) for (const dep of step.deps) waiting.set(dep, [...(waiting.get(dep) ?? []), step]);
  const lengths = new Map<string, number>();
  const length = (step: Step): number => {
    let known = lengths.get(step.id);
    if (known === undefined) {
      known = 1 + Math.max(0, ...(waiting.get(step.id) ?? []).map(length));
      lengths.set(step.id, known);
    }
    return known;
  };
  steps.forEach(length);
  return lengths;
}

/**
 * Which ready step to start next. A service runs one job at a time, so a step of
 * a service with fewer of this experiment's steps running comes first (a second
 * fine-tuning would only wait in the training service's queue, holding a slot
 * while a core idles). Then the longest chain waiting on it, so that prunes and
 * fine-tunings, which most of the graph waits on, go before evaluations. Then
 * graph order (the order of `ready`).
 */
export function nextStep(ready: readonly Step[], runningPerService: ReadonlyMap<string, number>, chains: ReadonlyMap<string, number>): Step | undefined {
  const busy = (step: Step) => runningPerService.get(STEP_KINDS[step.kind].service) ?? 0;
  let best: Step | undefined;
  for (const step of ready) {
    if (!best || busy(step) < busy(best) || (busy(step) === busy(best) && chains.get(step.id)! > chains.get(best.id)!)) best = step;
  }
  return best;
}
