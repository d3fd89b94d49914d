import * as tf from "@tensorflow/tfjs-core";
import { crossEntropyPerExample, type MaskTensors, type Model } from "@gap/ml-core";

export type LabelMode = "true" | "predicted";
/**
 * "pixel": eps in pixel units, adversarial images clipped to [0, 1] (the paper).
 * "normalized": eps in units of the normalized input, never clipped (the reference code).
 */
export type InputSpace = "pixel" | "normalized";

export interface AttackConfig {
  /** L∞ radius. */
  eps: number;
  /** PGD step size α (FGSM steps by eps). */
  stepSize: number;
  /** PGD iterations. */
  steps: number;
  randomStart: boolean;
  labelMode: LabelMode;
  inputSpace: InputSpace;
}

export interface AttackBatchInput {
  model: Model;
  masks?: MaskTensors;
  /** Clean pixel-space images. */
  images: tf.Tensor4D;
  /** The labels whose loss is ascended (true or predicted, chosen by the caller). */
  labels: tf.Tensor1D;
  /** Seeds the random start of this batch. */
  seed: number;
}

/** An L∞ attack on one batch: returns pixel-space adversarial images (a new tensor). */
export interface Attack {
  readonly name: "pgd" | "fgsm";
  perturb(input: AttackBatchInput, config: AttackConfig): tf.Tensor4D;
}

/** ∇_x L(θ, x, y) of the summed cross-entropy, BatchNorm in eval mode. */
export function inputGradient(model: Model, images: tf.Tensor4D, labels: tf.Tensor1D, masks?: MaskTensors): tf.Tensor4D {
  return tf.tidy(() =>
    tf.grad((x) => tf.sum(crossEntropyPerExample(model.forward(x as tf.Tensor4D, { training: false, masks }), labels)))(images),
  ) as tf.Tensor4D;
}

/**
 * Per-channel scale of the ball. Normalization is per-channel affine,
 * z = (x - mean) / std, so an eps-ball around z is an (eps * std)-ball
 * around x, and sign(∇_z L) = sign(∇_x L): attacking the normalized input
 * is attacking pixels with a per-channel radius.
 */
export function ballScale(model: Model, space: InputSpace): tf.Tensor1D {
  const channels = model.config.inputShape.channels;
  if (space === "pixel") return tf.ones([channels]) as tf.Tensor1D;
  return tf.tidy(() => {
    const zero = model.normalize(tf.zeros([1, 1, 1, channels]) as tf.Tensor4D);
    const one = model.normalize(tf.ones([1, 1, 1, channels]) as tf.Tensor4D);
    return tf.reshape(tf.div(1, tf.sub(one, zero)), [channels]) as tf.Tensor1D;
  });
}

/** Π: back into the ball around x, then into [0, 1] in pixel space. */
export function project(adversarial: tf.Tensor4D, clean: tf.Tensor4D, radius: tf.Tensor, space: InputSpace): tf.Tensor4D {
  return tf.tidy(() => {
    const delta = tf.minimum(tf.maximum(tf.sub(adversarial, clean), tf.neg(radius)), radius);
    const projected = tf.add(clean, delta) as tf.Tensor4D;
    return space === "pixel" ? (tf.clipByValue(projected, 0, 1) as tf.Tensor4D) : projected;
  });
}
