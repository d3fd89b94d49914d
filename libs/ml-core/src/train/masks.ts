import * as tf from "@tensorflow/tfjs-core";
import type { Masks, Model } from "../nn/model.js";

/** Input that does not fit the model (a mask or weights of the wrong shape); maps to FAILED_PRECONDITION. */
export class ShapeMismatchError extends Error {
  override readonly name = "ShapeMismatchError";
}

/** Checks that every mask names a prunable parameter of the same shape. */
export function validateMasks(model: Model, masks: Masks): void {
  const byName = new Map(model.params.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const [name, mask] of masks) {
    const param = byName.get(name);
    if (!param) problems.push(`${name}: no such parameter`);
    else if (!param.prunable) problems.push(`${name}: not prunable`);
    else if (!tf.util.arraysEqual(param.variable.shape, mask.shape)) {
      problems.push(`${name}: mask shape [${mask.shape}] != parameter shape [${param.variable.shape}]`);
    }
  }
  if (problems.length > 0) throw new ShapeMismatchError(`mask does not fit ${model.config.architecture}: ${problems.join("; ")}`);
}

/** Zeroes the pruned weights in place, so stored weights are exactly 0 where the mask is. */
export function applyMasks(model: Model, masks: Masks): void {
  tf.tidy(() => {
    for (const param of model.params) {
      const mask = masks.get(param.name);
      if (mask) param.variable.assign(tf.mul(param.variable, mask));
    }
  });
}
