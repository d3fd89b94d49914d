/**
 * torchvision's GoogLeNet with aux_logits=False, transform_input=False and
 * init_weights=True: conv/linear weights trunc_normal_(std 0.01, a=-2, b=2), BatchNorm
 * (eps 1e-3) at 1/0, the fc bias keeps PyTorch's default. Max pools use ceil_mode.
 * Like torchvision, the "5x5" inception branch uses a 3x3 kernel.
 *
 * Quantization points as torchvision.models.quantization.googlenet (see ForwardContext.quant):
 * "input", each fused conv+bn+relu after the ReLU under its conv's name ("conv1.conv",
 * "inception3a.branch2.1.conv"), each inception's concatenation ("inception3a.cat") and the
 * logits ("fc"). Max pools keep values on their grid; the average pool keeps its input's
 * qparams, so its output is requantized with the last concatenation's.
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type InitSeed, ModelBuilder } from "../nn/builder.js";
import type { WeightInit } from "../nn/init.js";
import { concatChannels, convBn, type ForwardContext, globalAvgPool, maxPool2d } from "../nn/layers.js";
import type { ModelConfig } from "../nn/model.js";
import type { Network } from "../nn/network.js";

type Step = (x: tf.Tensor4D, ctx: ForwardContext) => tf.Tensor4D;

/** Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) or a 3x3/2 or 2x2/2 pool. */
const BODY: ReadonlyArray<[string, number, number, number, number, number, number, number] | { pool: number }> = [
  ["inception3a", 192, 64, 96, 128, 16, 32, 32],
  ["inception3b", 256, 128, 128, 192, 32, 96, 64],
  { pool: 3 },
  ["inception4a", 480, 192, 96, 208, 16, 48, 64],
  ["inception4b", 512, 160, 112, 224, 24, 64, 64],
  ["inception4c", 512, 128, 128, 256, 24, 64, 64],
  ["inception4d", 512, 112, 144, 288, 32, 64, 64],
  ["inception4e", 528, 256, 160, 320, 32, 128, 128],
  { pool: 2 },
  ["inception5a", 832, 256, 160, 320, 32, 128, 128],
  ["inception5b", 832, 384, 192, 384, 48, 128, 128],
];

export function createGoogLeNet(config: ModelConfig, seed: InitSeed): Network {
  const b = new ModelBuilder(seed);
  const init: WeightInit = { kind: "trunc_normal", std: 0.01, a: -2, b: 2 };

  /** torchvision's BasicConv2d: conv (no bias), BatchNorm eps 1e-3, ReLU. */
  const basicConv = (name: string, inChannels: number, outChannels: number, kernelSize: number, stride = 1, padding = 0): Step => {
    const conv = b.conv2d(`${name}.conv`, { inChannels, outChannels, kernelSize, stride, padding, init });
    const bn = b.batchNorm(`${name}.bn`, outChannels, 1e-3);
    return (x, ctx) => convBn(conv, bn, x, ctx, `${name}.conv`, "relu");
  };

  const inception = (name: string, inC: number, c1: number, c3r: number, c3: number, c5r: number, c5: number, proj: number): Step => {
    const branch1 = basicConv(`${name}.branch1`, inC, c1, 1);
    const branch2a = basicConv(`${name}.branch2.0`, inC, c3r, 1);
    const branch2b = basicConv(`${name}.branch2.1`, c3r, c3, 3, 1, 1);
    const branch3a = basicConv(`${name}.branch3.0`, inC, c5r, 1);
    const branch3b = basicConv(`${name}.branch3.1`, c5r, c5, 3, 1, 1);
    const branch4 = basicConv(`${name}.branch4.1`, inC, proj, 1);
    return (x, ctx) =>
      ctx.quant(
        `${name}.cat`,
        concatChannels([
          branch1(x, ctx),
          branch2b(branch2a(x, ctx), ctx),
          branch3b(branch3a(x, ctx), ctx),
          branch4(maxPool2d(x, 3, 1, 1, true), ctx),
        ]),
      );
  };

  const steps: Step[] = [
    basicConv("conv1", config.inputShape.channels, 64, 7, 2, 3),
    (x) => maxPool2d(x, 3, 2, 0, true),
    basicConv("conv2", 64, 64, 1),
    basicConv("conv3", 64, 192, 3, 1, 1),
    (x) => maxPool2d(x, 3, 2, 0, true),
  ];
  for (const item of BODY) {
    if ("pool" in item) {
      const k = item.pool;
      steps.push((x) => maxPool2d(x, k, 2, 0, true));
    } else {
      steps.push(inception(...item));
    }
  }
  const fc = b.linear("fc", 1024, config.numClasses, { init, classifier: true });
  const last = BODY[BODY.length - 1] as [string, ...number[]];

  return b.build(config, (z, ctx) => {
    let x = z;
    for (const step of steps) x = step(x, ctx);
    const pooled = ctx.quant(`${last[0]}.cat`, globalAvgPool(x));
    return ctx.quant("fc", fc.apply(ctx.dropout(pooled, 0.2), ctx));
  });
}
