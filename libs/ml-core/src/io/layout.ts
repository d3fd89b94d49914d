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

const permute = (shape: readonly number[], perm: number[] | undefined): number[] =>
  perm ? perm.map((axis) => shape[axis] as number) : [...shape];

export function torchShape(kind: TensorKind, tfjsShape: readonly number[]): number[] {
  return permute(tfjsShape, TO_TORCH[kind]);
}

export function toTorchLayout(kind: TensorKind, t: tf.Tensor): tf.Tensor {
  const perm = TO_TORCH[kind];
  return perm ? tf.transpose(t, perm) : t.clone();
}

export function fromTorchLayout(kind: TensorKind, t: tf.Tensor): tf.Tensor {
  const perm = FROM_TORCH[kind];
  return perm ? tf.transpose(t, perm) : t.clone();
}
