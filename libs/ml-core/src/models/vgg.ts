/**
 * ShrinkBench's vgg_bn_drop (after Zagoruyko's cifar.torch): 13 ConvBNReLU blocks
 * (3x3 conv with bias, BatchNorm eps 1e-3) with dropout, five 2x2 ceil-mode max pools,
 * then Dropout, Linear(512, 512), BatchNorm1d, ReLU, Dropout, Linear(512, classes).
 * Initialisation: PyTorch's defaults (the reference leaves reset_weights unused).
 *
 * Quantization points (PyTorch eager int8, see ForwardContext.quant): "input", each fused
 * conv+bn+relu after the ReLU under its conv's name ("features.0.conv"), the fused
 * Linear+BN1d+ReLU ("classifier.1") and the logits ("classifier.5"). Max pooling keeps
 * values on their grid, so it needs no point.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type InitSeed, ModelBuilder } from "../nn/builder.js";
import type { WeightInit } from "../nn/init.js";
import { convBn, type ForwardContext, maxPool2d, pooledSize } from "../nn/layers.js";
import type { ModelConfig } from "../nn/model.js";
import type { Network } from "../nn/network.js";

/** The features Sequential: conv widths, "M" max pool, dropout rates as numbers < 1. */
const FEATURES: ReadonlyArray<{ conv: number } | { dropout: number } | "M"> = [
  { conv: 64 }, { dropout: 0.3 }, { conv: 64 }, "M",
  { conv: 128 }, { dropout: 0.4 }, { conv: 128 }, "M",
  { conv: 256 }, { dropout: 0.4 }, { conv: 256 }, { dropout: 0.4 }, { conv: 256 }, "M",
  { conv: 512 }, { dropout: 0.4 }, { conv: 512 }, { dropout: 0.4 }, { conv: 512 }, "M",
  { conv: 512 }, { dropout: 0.4 }, { conv: 512 }, { dropout: 0.4 }, { conv: 512 }, "M",
];

export function createVggBnDrop(config: ModelConfig, seed: InitSeed): Network {
  // The classifier takes 512 features: the five pools must bring the input down to 1x1.
  const { height, width } = config.inputShape;
  const pooled = (n: number) => [1, 2, 3, 4, 5].reduce((size) => pooledSize(size, 2, 2, 0, true), n);
  if (pooled(height) !== 1 || pooled(width) !== 1) {
    throw new Error(`vgg_bn_drop needs inputs of at most 32x32 (five 2x2 pools to 1x1), got ${height}x${width}`);
  }
  const b = new ModelBuilder(seed);
  const init: WeightInit = { kind: "pytorch_default" };
  const steps: Array<(x: tf.Tensor4D, ctx: ForwardContext) => tf.Tensor4D> = [];
  let channels = config.inputShape.channels;
  FEATURES.forEach((item, i) => {
    if (item === "M") {
      steps.push((x) => maxPool2d(x, 2, 2, 0, true));
    } else if ("dropout" in item) {
      steps.push((x, ctx) => ctx.dropout(x, item.dropout));
    } else {
      const conv = b.conv2d(`features.${i}.conv`, {
        inChannels: channels,
        outChannels: item.conv,
        kernelSize: 3,
        padding: 1,
        bias: true,
        init,
      });
      const bn = b.batchNorm(`features.${i}.bn`, item.conv, 1e-3);
      steps.push((x, ctx) => convBn(conv, bn, x, ctx, `features.${i}.conv`, "relu"));
      channels = item.conv;
    }
  });
  const fc1 = b.linear("classifier.1", 512, 512, { init });
  const bn1d = b.batchNorm("classifier.2", 512);
  const fc2 = b.linear("classifier.5", 512, config.numClasses, { init, classifier: true });

  return b.build(config, (z, ctx) => {
    let x = z;
    for (const step of steps) x = step(x, ctx);
    // Spatial size is 1x1 here (checked above), so NHWC and NCHW flattening agree.
    const [n, , , c] = x.shape;
    let y: tf.Tensor2D = tf.reshape(x, [n, c]);
    y = ctx.dropout(y, 0.5);
    y = ctx.quant("classifier.1", bn1d.apply(fc1.apply(y, ctx), ctx, true));
    y = ctx.dropout(y, 0.5);
    return ctx.quant("classifier.5", fc2.apply(y, ctx));
  });
}
