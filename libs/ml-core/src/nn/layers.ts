/**
 * Minimal layers over tfjs-core ops, with PyTorch semantics. Activations are NHWC;
 * weights are stored in the TensorFlow.js layout (see model.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { addRelu, batchNormInference, batchNormTraining, blendRunningStats, foldedConvBatchNorm, seededDropout, type Activation } from "../runtime/fused-ops.js";
export { addRelu, dropoutMultiplier } from "../runtime/fused-ops.js";
import type { BufferEntry, ForwardOptions, ParamEntry } from "./model.js";

/** A BatchNorm's batch mean and unbiased variance from one training-mode forward. */
export interface BatchStats {
  readonly bn: BatchNorm;
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
}

/** Per-forward state: mode, masks, dropout seeds and where batch statistics go. */
export class ForwardContext {
  private dropoutCount = 0;

  constructor(
    readonly options: ForwardOptions,
    private readonly onBatchStats: (stats: BatchStats) => void,
  ) {}

  get training(): boolean {
    return this.options.training;
  }

  /** The effective parameter: weight * mask when a mask is given for it. */
  effective(param: ParamEntry): tf.Tensor {
    const mask = this.options.masks?.get(param.name);
    return mask ? tf.mul(param.variable, mask) : param.variable;
  }

  /**
   * A quantization point: the hook's view of x when quantization hooks are given,
   * x itself otherwise (float and training forwards pay nothing).
   */
  quant<T extends tf.Tensor>(point: string, x: T): T {
    const hooks = this.options.quantization;
    return hooks ? (hooks.activation(point, x) as T) : x;
  }

  /** Inverted dropout (like PyTorch) in training mode; identity otherwise. */
  dropout<T extends tf.Tensor>(x: T, rate: number): T {
    const index = this.dropoutCount++;
    if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
    if (!this.training || rate === 0) return x;
    const base = this.options.dropoutSeed ?? Math.floor(Math.random() * 2 ** 32);
    // Each dropout layer gets its own stream derived from the forward's seed.
    const seed = (Math.imul(base >>> 0, 0x9e3779b1) + index * 0x85ebca6b) >>> 0;
    return seededDropout(x, rate, seed);
  }

  recordBatchStats(stats: BatchStats): void {
    this.onBatchStats(stats);
  }
}

export class Conv2d {
  constructor(
    readonly weight: ParamEntry,
    readonly bias: ParamEntry | null,
    readonly stride: number,
    /** Zero padding on every side, as PyTorch's integer padding. */
    readonly padding: number,
    readonly depthwise: boolean,
  ) {}

  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const w = ctx.effective(this.weight) as tf.Tensor4D;
    let y = this.depthwise
      ? tf.depthwiseConv2d(x, w, this.stride, this.padding)
      : tf.conv2d(x, w, this.stride, this.padding);
    if (this.bias) y = tf.add(y, ctx.effective(this.bias));
    return y;
  }
}

export class Linear {
  constructor(
    readonly weight: ParamEntry,
    readonly bias: ParamEntry | null,
  ) {}

  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const y = tf.matMul<tf.Tensor2D>(x, ctx.effective(this.weight));
    return this.bias ? tf.add<tf.Tensor2D>(y, ctx.effective(this.bias)) : y;
  }
}

/** BatchNorm2d (NHWC input) or BatchNorm1d ([N, C] input), PyTorch semantics. */
export class BatchNorm {
  constructor(
    /** Module name, e.g. "layer1.0.bn1". */
    readonly name: string,
    readonly weight: ParamEntry,
    readonly bias: ParamEntry,
    readonly runningMean: BufferEntry,
    readonly runningVar: BufferEntry,
    readonly eps: number,
  ) {}

  /**
   * relu: relu(bn(x)), fused into the batch-norm kernels (one pass forward, and
   * backward without the ReLU's own) with native kernels on; bn then relu otherwise.
   * The result is float32-identical either way.
   */
  apply<T extends tf.Tensor4D | tf.Tensor2D>(x: T, ctx: ForwardContext, relu = false): T {
    if (!ctx.training) return batchNormInference(x, this.tensors(), this.eps, relu);
    const channels = x.shape[x.rank - 1] as number;
    const n = x.size / channels;
    if (n < 2) throw new Error(`${this.name}: training-mode BatchNorm needs more than 1 value per channel, got input shape [${x.shape}]`);
    // Normalise with the biased variance; record the unbiased one for the running update (as PyTorch).
    const { y, mean, variance } = batchNormTraining(x, this.weight.variable as tf.Tensor1D, this.bias.variable as tf.Tensor1D, this.eps, relu);
    ctx.recordBatchStats({ bn: this, mean, variance: tf.keep(tf.mul(variance, n / (n - 1)) as tf.Tensor1D) });
    variance.dispose();
    return y;
  }

  /** Parameters and running statistics, as the inference forward and the conv fold take them. */
  tensors() {
    return {
      mean: this.runningMean.variable as tf.Tensor1D,
      variance: this.runningVar.variable as tf.Tensor1D,
      scale: this.weight.variable as tf.Tensor1D,
      offset: this.bias.variable as tf.Tensor1D,
    };
  }

  /**
   * running = (1 - momentum) * running + momentum * batch, for mean and unbiased
   * variance; one native kernel for both with native kernels on (bit for bit the same).
   */
  update(stats: BatchStats, momentum: number): void {
    tf.tidy(() => {
      const running = { mean: this.runningMean.variable as tf.Tensor1D, variance: this.runningVar.variable as tf.Tensor1D };
      const [mean, variance] = blendRunningStats(running, stats, momentum);
      this.runningMean.variable.assign(mean);
      this.runningVar.variable.assign(variance);
    });
  }
}

/** act(bn(conv(x)) [+ residual]) as one folded conv where the native kernels run it (inference). */
function foldedConvBn(conv: Conv2d, bn: BatchNorm, x: tf.Tensor4D, ctx: ForwardContext, activation: Activation, residual?: tf.Tensor4D): tf.Tensor4D | null {
  if (ctx.training) return null;
  const folded = {
    filterShape: conv.weight.variable.shape,
    filter: () => ctx.effective(conv.weight) as tf.Tensor4D,
    bias: () => (conv.bias ? ctx.effective(conv.bias) : undefined),
    stride: conv.stride,
    padding: conv.padding,
    depthwise: conv.depthwise,
  };
  return foldedConvBatchNorm(x, folded, bn.tensors(), bn.eps, activation, residual);
}

export type { Activation };

/** act(bn(conv(x))); `point` names the result's quantization point. */
export function convBn(conv: Conv2d, bn: BatchNorm, x: tf.Tensor4D, ctx: ForwardContext, point: string, activation: Activation = "none"): tf.Tensor4D {
  const folded = foldedConvBn(conv, bn, x, ctx, activation);
  if (folded) return ctx.quant(point, folded);
  const y = bn.apply(conv.apply(x, ctx), ctx, activation === "relu");
  return ctx.quant(point, activation === "relu6" ? relu6(y) : y);
}

/**
 * relu(bn(conv(x)) + shortcut), a residual block's end; points.conv names the
 * quantization point of bn(conv(x)), points.add that of the result.
 */
export function convBnAddRelu(conv: Conv2d, bn: BatchNorm, x: tf.Tensor4D, shortcut: tf.Tensor4D, ctx: ForwardContext, points: { conv: string; add: string }): tf.Tensor4D {
  // With quantization hooks bn(conv(x)) is a point of its own, so the residual and ReLU stay outside the fold.
  const quantized = ctx.options.quantization !== undefined;
  const folded = foldedConvBn(conv, bn, x, ctx, quantized ? "none" : "relu", quantized ? undefined : shortcut);
  if (folded && !quantized) return folded;
  const out = ctx.quant(points.conv, folded ?? bn.apply(conv.apply(x, ctx), ctx));
  return ctx.quant(points.add, addRelu(out, shortcut));
}

export function relu<T extends tf.Tensor>(x: T): T {
  return tf.relu(x);
}


export function relu6<T extends tf.Tensor>(x: T): T {
  return tf.relu6(x);
}

/** PyTorch's output size for max pooling (dilation 1). */
export function pooledSize(size: number, kernel: number, stride: number, padding: number, ceilMode: boolean): number {
  const span = size + 2 * padding - kernel;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch drops a last window that would start in the right padding.
  if (ceilMode && (out - 1) * stride >= size + padding) out -= 1;
  return out;
}

/**
 * MaxPool2d as PyTorch: implicit -inf padding (padding taps never win), and ceil_mode adds
 * windows that run past the bottom/right edge. Done as one pool with explicit padding
 * sized to give exactly PyTorch's windows; an explicit -inf pad before a 'valid' pool
 * cost a PadV2 and its Slice gradient per pool (about 8 of GoogLeNet's 185 ms step).
 */
export function maxPool2d(x: tf.Tensor4D, kernel: number, stride: number, padding = 0, ceilMode = false): tf.Tensor4D {
  const [, h, w] = x.shape;
  const outH = pooledSize(h, kernel, stride, padding, ceilMode);
  const outW = pooledSize(w, kernel, stride, padding, ceilMode);
  if (outH < 1 || outW < 1) throw new Error(`maxPool2d: input ${h}x${w} too small for kernel ${kernel}`);
  // Extra rows/columns at the bottom/right so that the pool gives exactly outH x outW windows.
  const padBottom = Math.max(0, (outH - 1) * stride + kernel - h - padding);
  const padRight = Math.max(0, (outW - 1) * stride + kernel - w - padding);
  return tf.maxPool(x, kernel, stride, [[0, 0], [padding, padBottom], [padding, padRight], [0, 0]]);
}

/** AdaptiveAvgPool2d((1, 1)) followed by flatten: [N, H, W, C] -> [N, C]. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]);
}

/** Concatenate along channels (NHWC), like torch.cat(dim=1) on NCHW. */
export function concatChannels(xs: tf.Tensor4D[]): tf.Tensor4D {
  return tf.concat(xs, 3);
}

/**
 * x[:, :, ::2, ::2] in NCHW terms, with 4-D reshapes and a slice only (every backend
 * has them with gradients): pairs of rows go to axis 1, pairs of columns into channels.
 */
export function subsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const hp = h + (h % 2);
  const wp = w + (w % 2);
  const even = hp !== h || wp !== w ? tf.pad(x, [[0, 0], [0, hp - h], [0, wp - w], [0, 0]]) : x;
  const pairs = tf.reshape(even, [(n * hp) / 2, 2, wp / 2, 2 * c]);
  const picked = tf.slice(pairs, [0, 0, 0, 0], [(n * hp) / 2, 1, wp / 2, c]);
  return tf.reshape(picked, [n, hp / 2, wp / 2, c]);
}

/** Zero-pad channels on both sides (the option-A shortcut of the CIFAR ResNet). */
export function padChannels(x: tf.Tensor4D, before: number, after: number): tf.Tensor4D {
  return tf.pad(x, [[0, 0], [0, 0], [0, 0], [before, after]]);
}
