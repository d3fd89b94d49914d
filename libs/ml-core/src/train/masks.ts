import * as tf from "@tensorflow/tfjs-core";
import type { Masks, MaskTensors, Model } from "../nn/model.js";

/** Input that does not fit the model (a mask or weights of the wrong shape); maps to FAILED_PRECONDITION. */
export class ShapeMismatchError extends Error {
  override readonly name = "ShapeMismatchError";
}

/** Checks that every mask names a prunable parameter and has one byte per weight. */
export function validateMasks(model: Model, masks: Masks): void {
  const byName = new Map(model.params.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const [name, mask] of masks) {
    const param = byName.get(name);
    if (!param) problems.push(`${name}: no such parameter`);
    else if (!param.prunable) problems.push(`${name}: not prunable`);
    else if (mask.length !== param.variable.size) problems.push(`${name}: mask of ${mask.length} values for a parameter of ${param.variable.size} [${param.variable.shape}]`);
  }
  if (problems.length > 0) throw new ShapeMismatchError(`mask does not fit ${model.config.architecture}: ${problems.join("; ")}`);
}

/** The masks as 0/1 float tensors shaped like their parameters (checked first); the caller disposes them. */
export function maskTensors(model: Model, masks: Masks): MaskTensors {
  validateMasks(model, masks);
  const shapes = new Map(model.params.map((p) => [p.name, p.variable.shape]));
  return new Map([...masks].map(([name, mask]) => [name, tf.tensor(Float32Array.from(mask), shapes.get(name))]));
}

/** Runs `use` with the masks as tensors (none without masks), and frees them after. */
export async function withMaskTensors<T>(model: Model, masks: Masks | undefined, use: (tensors: MaskTensors | undefined) => Promise<T>): Promise<T> {
  const tensors = masks && maskTensors(model, masks);
  try {
    return await use(tensors);
  } finally {
    if (tensors) tf.dispose([...tensors.values()]);
  }
}

/** Zeroes the pruned weights in place, so stored weights are exactly 0 where the mask is. */
export function applyMasks(model: Model, masks: MaskTensors): void {
  tf.tidy(() => {
    for (const param of model.params) {
      const mask = masks.get(param.name);
      if (mask) param.variable.assign(tf.mul(param.variable, mask));
    }
  });
}
