import * as tf from "@tensorflow/tfjs-core";
import { type ArchitectureName, ARCHITECTURES, type Model, type ModelConfig } from "../nn/model.js";
import type { InitSeed } from "../nn/builder.js";
import type { Network } from "../nn/network.js";
import { createGoogLeNet } from "./googlenet.js";
import { createMobileNetV2 } from "./mobilenetv2.js";
import { createCifarResNet, RESNET_BLOCKS } from "./resnet.js";
import { createVggBnDrop } from "./vgg.js";

export { RESNET_BLOCKS } from "./resnet.js";

export function isArchitecture(name: string): name is ArchitectureName {
  return (ARCHITECTURES as readonly string[]).includes(name);
}

/**
 * Builds an architecture with seeded, deterministic initial weights ("zeros": all weights
 * 0, for weights loaded next). Every architecture accepts 32x32x3 and 28x28x1 inputs
 * (1-channel inputs change only the stem conv).
 */
export function createModel(config: ModelConfig, seed: InitSeed): Network {
  const { height, width, channels } = config.inputShape;
  if (channels !== 1 && channels !== 3) throw new Error(`inputs must have 1 or 3 channels, not ${channels}`);
  if (height < 28 || width < 28) throw new Error(`inputs smaller than 28x28 are not supported (got ${height}x${width})`);
  if (!Number.isInteger(config.numClasses) || config.numClasses < 1) throw new Error(`bad numClasses ${config.numClasses}`);
  const arch = config.architecture;
  switch (arch) {
    case "vgg_bn_drop":
      return createVggBnDrop(config, seed);
    case "googlenet":
      return createGoogLeNet(config, seed);
    case "mobilenet_v2":
      return createMobileNetV2(config, seed);
    default:
      if (arch in RESNET_BLOCKS) return createCifarResNet(arch, config, seed);
      throw new Error(`unknown architecture ${String(arch)}`);
  }
}

/** Number of trainable parameters (BatchNorm buffers excluded), as PyTorch counts them. */
export function countParameters(model: Model): number {
  return model.params.reduce((sum, p) => sum + p.variable.size, 0);
}

/**
 * Multiply-adds of one image's eval-mode forward pass: the convolutions
 * (depthwise ones too) and matrix products the active backend runs, counted
 * from their shapes (tf.profile). Elementwise work, BatchNorm and pooling are
 * left out, as FLOP counts of CNNs usually do.
 */
export async function forwardMultiplyAdds(model: Model): Promise<number> {
  const { height, width, channels } = model.config.inputShape;
  const x = tf.zeros([1, height, width, channels]) as tf.Tensor4D;
  const info = await tf.profile(() => tf.dispose(model.forward(x, { training: false })));
  x.dispose();
  let macs = 0;
  for (const k of info.kernels) {
    const [input, filter] = k.inputShapes as number[][];
    const out = k.outputShapes[0] as number[] | undefined;
    if (!input || !filter || !out) continue;
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    if (/Conv/.test(k.name) && filter.length === 4) {
      const [kh, kw, inChannels, multiplier] = filter as [number, number, number, number];
      // A regular filter is [kh, kw, in, out]; a depthwise one [kh, kw, in, multiplier], out = in * multiplier.
      const depthwise = multiplier !== out[3];
      macs += size(out) * kh * kw * (depthwise ? 1 : inChannels);
    } else if (/MatMul/.test(k.name)) {
      // [.., M, K] x [.., K, N] -> [.., M, N]: each output element takes K multiply-adds.
      macs += size(out) * (size(input) / (size(out) / out.at(-1)!) );
    }
  }
  return macs;
}

/** Names of the prunable parameters, in state_dict order. */
export function prunableParameterNames(model: Model): string[] {
  return model.params.filter((p) => p.prunable).map((p) => p.name);
}
