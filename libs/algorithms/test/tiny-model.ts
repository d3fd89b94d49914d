import * as tf from "@tensorflow/tfjs-core";
import type { MaskTensors, Model, ParamEntry } from "@gap/ml-core";

/**
 * A hand-checkable two-layer linear net on 1x1x3 "images":
 *   h = x W1 (3 -> 2), logits = h W2 + b (2 -> 2).
 * W1 and W2 are prunable, b is not: 12 parameters, 10 prunable.
 */
export function tinyModel(w1: number[][], w2: number[][], b: number[]): Model {
  const param = (name: string, value: tf.Tensor, prunable: boolean): ParamEntry => ({
    name,
    variable: tf.variable(value, true, `${name}-${Math.random()}`),
    kind: prunable ? "linear" : "bias",
    prunable,
  });
  const params = [param("fc1.weight", tf.tensor2d(w1), true), param("fc2.weight", tf.tensor2d(w2), true), param("fc2.bias", tf.tensor1d(b), false)];
  const [W1, W2, B] = params.map((p) => p.variable) as [tf.Variable, tf.Variable, tf.Variable];
  const masked = (v: tf.Variable, name: string, masks?: MaskTensors) => (masks?.get(name) ? tf.mul(v, masks.get(name)!) : v);
  const forwardNormalized = (z: tf.Tensor4D, options: { masks?: MaskTensors }) =>
    tf.tidy(() => {
      const x = tf.reshape(z, [z.shape[0], 3]) as tf.Tensor2D;
      const h = tf.matMul(x, masked(W1, "fc1.weight", options.masks) as tf.Tensor2D);
      return tf.add(tf.matMul(h, masked(W2, "fc2.weight", options.masks) as tf.Tensor2D), B) as tf.Tensor2D;
    });
  return {
    config: { architecture: "resnet20", numClasses: 2, inputShape: { height: 1, width: 1, channels: 3 } },
    params,
    buffers: [],
    normalize: (x) => x,
    forwardNormalized,
    forward: forwardNormalized,
    commitBatchStats: () => {},
    discardBatchStats: () => {},
    dispose: () => tf.dispose([W1, W2, B]),
  };
}

/** Float64 gradients of the cross-entropy of one example, by the chain rule written out. */
export function handGradients(w1: number[][], w2: number[][], b: number[], x: number[], label: number) {
  const h = [0, 1].map((j) => x.reduce((s, xi, i) => s + xi * w1[i]![j]!, 0));
  const logits = [0, 1].map((k) => h[0]! * w2[0]![k]! + h[1]! * w2[1]![k]! + b[k]!);
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const p = e.map((v) => v / (e[0]! + e[1]!));
  const dLogits = p.map((pk, k) => pk - (k === label ? 1 : 0));
  const gW2 = [0, 1].map((j) => [0, 1].map((k) => h[j]! * dLogits[k]!));
  const dH = [0, 1].map((j) => dLogits[0]! * w2[j]![0]! + dLogits[1]! * w2[j]![1]!);
  const gW1 = [0, 1, 2].map((i) => [0, 1].map((j) => x[i]! * dH[j]!));
  return { gW1: gW1.flat(), gW2: gW2.flat() };
}
