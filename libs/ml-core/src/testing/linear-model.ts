import * as tf from "@tensorflow/tfjs-core";
import type { InputShape, MaskTensors, Model, ParamEntry } from "../nn/model.js";

/**
 * Softmax regression (flatten + linear) behind the Model interface: lets the
 * trainer, attacks and pruning be tested apart from the real architectures,
 * with gradients simple enough to check by hand.
 */
export function linearModel(
  inputShape: InputShape,
  numClasses: number,
  seed: number,
  normalization: { mean: number[]; std: number[] } = { mean: [0], std: [1] },
): Model {
  const inputSize = inputShape.height * inputShape.width * inputShape.channels;
  const weight: ParamEntry = {
    name: "fc.weight",
    variable: tf.variable(tf.randomNormal([inputSize, numClasses], 0, 0.01, "float32", seed)),
    kind: "linear",
    prunable: true,
  };
  const bias: ParamEntry = { name: "fc.bias", variable: tf.variable(tf.zeros([numClasses])), kind: "bias", prunable: true };
  const mean = tf.keep(tf.tensor1d(normalization.mean));
  const std = tf.keep(tf.tensor1d(normalization.std));
  const normalize = (x: tf.Tensor4D) => tf.tidy(() => tf.div(tf.sub(x, mean), std) as tf.Tensor4D);
  const forwardNormalized = (z: tf.Tensor4D, options: { masks?: MaskTensors }) =>
    tf.tidy(() => {
      const mask = options.masks?.get("fc.weight");
      const w = mask ? tf.mul(weight.variable, mask) : weight.variable;
      return tf.add(tf.matMul(tf.reshape(z, [z.shape[0], inputSize]), w), bias.variable) as tf.Tensor2D;
    });
  return {
    config: { architecture: "resnet20", numClasses, inputShape },
    params: [weight, bias],
    buffers: [],
    normalize,
    forwardNormalized,
    forward: (x, options) => tf.tidy(() => forwardNormalized(normalize(x), options)),
    commitBatchStats: () => {},
    discardBatchStats: () => {},
    dispose: () => tf.dispose([weight.variable, bias.variable, mean, std]),
  };
}
