/**
 * The one place where tensors change between the TensorFlow.js layout used in memory
 * and the PyTorch layout used in files:
 *   conv       HWIO [kh, kw, in, out]  <->  OIHW [out, in, kh, kw]
 *   depthwise  [kh, kw, C, 1]          <->  [C, 1, kh, kw]
 *   linear     [in, out]               <->  [out, in]
 * Biases, BatchNorm parameters and buffers are the same in both.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParamKind } from "../nn/model.js";

/** Kind of a stored tensor: a parameter kind, or "buffer" for BatchNorm running stats. */
export type TensorKind = ParamKind | "buffer";

const TO_TORCH: Partial<Record<TensorKind, number[]>> = {
  conv: [3, 2, 0, 1],
  depthwise_conv: [2, 3, 0, 1],
  linear: [1, 0],
};
const FROM_TORCH: Partial<Record<TensorKind, number[]>> = {
  conv: [2, 3, 1, 0],
  depthwise_conv: [2, 3, 0, 1],
  linear: [1, 0],
};

const permute = (shape: readonly number[], perm: readonly number[] | undefined): number[] =>
  perm ? perm.map((axis) => shape[axis] as number) : [...shape];

export function torchShape(kind: TensorKind, tfjsShape: readonly number[]): number[] {
  return permute(tfjsShape, TO_TORCH[kind]);
}

export function tfjsShape(kind: TensorKind, torchShape: readonly number[]): number[] {
  return permute(torchShape, FROM_TORCH[kind]);
}

export function toTorchLayout(kind: TensorKind, t: tf.Tensor): tf.Tensor {
  const perm = TO_TORCH[kind];
  return perm ? tf.transpose(t, perm) : t.clone();
}

export function fromTorchLayout(kind: TensorKind, t: tf.Tensor): tf.Tensor {
  const perm = FROM_TORCH[kind];
  return perm ? tf.transpose(t, perm) : t.clone();
}

type Values = Uint8Array | Int8Array | Float32Array;

/** values (row-major over shape) with their axes permuted as perm says: out axis i is input axis perm[i]. */
function permuteValues<T extends Values>(values: T, shape: readonly number[], perm: readonly number[] | undefined): T {
  if (!perm) return values.slice() as T;
  const out = new (values.constructor as new (length: number) => T)(values.length);
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let axis = rank - 1, s = 1; axis >= 0; axis--) {
    strides[axis] = s;
    s *= shape[axis]!;
  }
  const outShape = permute(shape, perm);
  const step = perm.map((axis) => strides[axis]!);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0, from = 0; o < out.length; o++) {
    out[o] = values[from]!;
    // The next output position, row-major, and where it reads from.
    for (let axis = rank - 1; axis >= 0; axis--) {
      from += step[axis]!;
      if (++index[axis]! < outShape[axis]!) break;
      from -= step[axis]! * outShape[axis]!;
      index[axis] = 0;
    }
  }
  return out;
}

/**
 * A parameter's values (masks, int8 weights) moved between the layouts as the tensor
 * functions above move tensors, in plain JS: `shape` is the layout they come from.
 */
export function valuesToTorchLayout<T extends Values>(kind: TensorKind, values: T, tfjsShape: readonly number[]): T {
  return permuteValues(values, tfjsShape, TO_TORCH[kind]);
}
export function valuesFromTorchLayout<T extends Values>(kind: TensorKind, values: T, torchShape: readonly number[]): T {
  return permuteValues(values, torchShape, FROM_TORCH[kind]);
}
