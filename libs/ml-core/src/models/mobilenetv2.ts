/**
 * torchvision's MobileNetV2 (width 1.0): inverted residual blocks with ReLU6, depthwise
 * 3x3 convs, a 1280-channel 1x1 head, Dropout(0.2) and a linear classifier.
 * Initialisation as torchvision: convs kaiming_normal_(fan_out), BatchNorm 1/0,
 * linear N(0, 0.01) with zero bias.
 *
 * Quantization points as torchvision.models.quantization.mobilenet_v2 (see ForwardContext.quant):
 * "input", each fused conv+bn(+ReLU6) under its conv's name ("features.0.0",
 * "features.2.conv.0.0", the projection "features.2.conv.2"), each residual add
 * ("features.3.add", no activation) and the logits ("classifier.1"). The ReLU6 is kept
 * (torchvision's quantizable model swaps it for ReLU) and the point is after it. The average
 * pool keeps its input's qparams, so its output is requantized with the head conv's.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type InitSeed, ModelBuilder } from "../nn/builder.js";
import type { WeightInit } from "../nn/init.js";
import { convBn, type ForwardContext, globalAvgPool } from "../nn/layers.js";
import type { ModelConfig } from "../nn/model.js";
import type { Network } from "../nn/network.js";

type Step = (x: tf.Tensor4D, ctx: ForwardContext) => tf.Tensor4D;

/** t (expansion), c (output channels), n (repeats), s (first stride). */
const SETTINGS = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
] as const;

export function createMobileNetV2(config: ModelConfig, seed: InitSeed): Network {
  const b = new ModelBuilder(seed);
  const init: WeightInit = { kind: "kaiming_normal", mode: "fan_out" };

  /** torchvision's Conv2dNormActivation: conv (no bias) at <name>.0, BatchNorm at <name>.1, optional ReLU6. */
  const convBnAct = (name: string, inC: number, outC: number, kernelSize: number, stride: number, act: boolean, depthwise = false): Step => {
    const conv = b.conv2d(`${name}.0`, {
      inChannels: inC,
      outChannels: outC,
      kernelSize,
      stride,
      padding: (kernelSize - 1) / 2,
      depthwise,
      init,
    });
    const bn = b.batchNorm(`${name}.1`, outC);
    return (x, ctx) => convBn(conv, bn, x, ctx, `${name}.0`, act ? "relu6" : "none");
  };

  /** InvertedResidual at features.<index>; its Sequential "conv" numbers the layers. */
  const invertedResidual = (index: number, inp: number, oup: number, stride: number, t: number): Step => {
    const prefix = `features.${index}.conv`;
    const hidden = Math.round(inp * t);
    const layers: Step[] = [];
    let k = 0;
    if (t !== 1) layers.push(convBnAct(`${prefix}.${k++}`, inp, hidden, 1, 1, true));
    layers.push(convBnAct(`${prefix}.${k++}`, hidden, hidden, 3, stride, true, true));
    // pw-linear: a bare conv and BatchNorm as separate Sequential entries, no activation.
    const projectName = `${prefix}.${k++}`;
    const project = b.conv2d(projectName, { inChannels: hidden, outChannels: oup, kernelSize: 1, init });
    const bn = b.batchNorm(`${prefix}.${k++}`, oup);
    layers.push((x, ctx) => convBn(project, bn, x, ctx, projectName));
    const residual = stride === 1 && inp === oup;
    return (x, ctx) => {
      let y = x;
      for (const layer of layers) y = layer(y, ctx);
      return residual ? ctx.quant(`features.${index}.add`, tf.add(x, y)) : y;
    };
  };

  const steps: Step[] = [convBnAct("features.0", config.inputShape.channels, 32, 3, 2, true)];
  let channels = 32;
  for (const [t, c, n, s] of SETTINGS) {
    for (let i = 0; i < n; i++) {
      steps.push(invertedResidual(steps.length, channels, c, i === 0 ? s : 1, t));
      channels = c;
    }
  }
  const head = `features.${steps.length}`;
  steps.push(convBnAct(head, channels, 1280, 1, 1, true));
  const classifier = b.linear("classifier.1", 1280, config.numClasses, {
    init: { kind: "normal", std: 0.01 },
    biasInit: "zeros",
    classifier: true,
  });

  return b.build(config, (z, ctx) => {
    let x = z;
    for (const step of steps) x = step(x, ctx);
    const pooled = ctx.quant(`${head}.0`, globalAvgPool(x));
    return ctx.quant("classifier.1", classifier.apply(ctx.dropout(pooled, 0.2), ctx));
  });
}
