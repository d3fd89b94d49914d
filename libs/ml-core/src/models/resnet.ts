/**
 * The CIFAR ResNet of He et al. (2016) as in ShrinkBench's cifar_resnet.py: 3x3 stem
 * with 16 channels, three stages of BasicBlocks (16, 32, 64 planes), option-A
 * shortcuts, global average pooling and a linear classifier. Convs and the linear
 * weight use kaiming_normal_ (fan_in); the linear bias keeps PyTorch's default.
 *
 * Quantization points (PyTorch eager int8, see ForwardContext.quant): "input", each fused
 * conv+bn(+relu) under its conv's name ("conv1", "layer1.0.conv1", "layer1.0.conv2"), each
 * residual add after its ReLU ("layer1.0.add", as torchvision's add_relu), "linear" (the
 * logits). Average pooling keeps its input's qparams: its output is requantized with the
 * last add's (the int8 mean is rounded onto the same grid).
 */
import { type InitSeed, ModelBuilder } from "../nn/builder.js";
import type { WeightInit } from "../nn/init.js";
import { type BatchNorm, type Conv2d, convBn, convBnAddRelu, globalAvgPool, padChannels, subsample2 } from "../nn/layers.js";
import type { ModelConfig } from "../nn/model.js";
import type { Network } from "../nn/network.js";

/** BasicBlocks per stage: depth = 6n + 2. */
export const RESNET_BLOCKS = { resnet20: 3, resnet32: 5, resnet44: 7, resnet56: 9, resnet110: 18 } as const;
export type CifarResNetName = keyof typeof RESNET_BLOCKS;

interface BasicBlock {
  /** Module name, e.g. "layer1.0". */
  name: string;
  conv1: Conv2d;
  bn1: BatchNorm;
  conv2: Conv2d;
  bn2: BatchNorm;
  /** Channels zero-padded on each side of the subsampled identity; null: plain identity. */
  shortcutPad: number | null;
}

export function createCifarResNet(name: CifarResNetName, config: ModelConfig, seed: InitSeed): Network {
  const b = new ModelBuilder(seed);
  const init: WeightInit = { kind: "kaiming_normal", mode: "fan_in" };
  const conv3x3 = (module: string, inChannels: number, outChannels: number, stride: number): Conv2d =>
    b.conv2d(module, { inChannels, outChannels, kernelSize: 3, stride, padding: 1, init });

  const conv1 = conv3x3("conv1", config.inputShape.channels, 16, 1);
  const bn1 = b.batchNorm("bn1", 16);
  const blocks: BasicBlock[] = [];
  let inPlanes = 16;
  for (const [stage, planes, stageStride] of [
    [1, 16, 1],
    [2, 32, 2],
    [3, 64, 2],
  ] as const) {
    for (let i = 0; i < RESNET_BLOCKS[name]; i++) {
      const stride = i === 0 ? stageStride : 1;
      const prefix = `layer${stage}.${i}`;
      blocks.push({
        name: prefix,
        conv1: conv3x3(`${prefix}.conv1`, inPlanes, planes, stride),
        bn1: b.batchNorm(`${prefix}.bn1`, planes),
        conv2: conv3x3(`${prefix}.conv2`, planes, planes, 1),
        bn2: b.batchNorm(`${prefix}.bn2`, planes),
        shortcutPad: stride !== 1 || inPlanes !== planes ? Math.floor(planes / 4) : null,
      });
      inPlanes = planes;
    }
  }
  const linear = b.linear("linear", 64, config.numClasses, { init, classifier: true });

  const lastAdd = `${blocks[blocks.length - 1]!.name}.add`;

  return b.build(config, (z, ctx) => {
    let x = convBn(conv1, bn1, z, ctx, "conv1", "relu");
    for (const blk of blocks) {
      const h = convBn(blk.conv1, blk.bn1, x, ctx, `${blk.name}.conv1`, "relu");
      // Option A: x[:, :, ::2, ::2] zero-padded with planes/4 channels on each side.
      const shortcut = blk.shortcutPad === null ? x : padChannels(subsample2(x), blk.shortcutPad, blk.shortcutPad);
      x = convBnAddRelu(blk.conv2, blk.bn2, h, shortcut, ctx, { conv: `${blk.name}.conv2`, add: `${blk.name}.add` });
    }
    return ctx.quant("linear", linear.apply(ctx.quant(lastAdd, globalAvgPool(x)), ctx));
  });
}
