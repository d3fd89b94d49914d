/**
 * The fused operations of nn/ and train/, each with one meaning (PyTorch's) and two ways to
 * compute it: one native kernel where nativeApplies() says the native kernels run these
 * tensors, tf ops otherwise, float32-identical unless a function says so. This is the one
 * place that chooses; nn/ and train/ name no kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  NATIVE_ADD_RELU,
  NATIVE_BN_GRAD,
  NATIVE_BN_RELU,
  NATIVE_BN_TRAIN,
  NATIVE_BN_UPDATE,
  NATIVE_CONV_FUSED,
  NATIVE_DROPOUT,
  NATIVE_FAKE_QUANTIZE,
  NATIVE_SGD,
  nativeApplies,
  nativeConvFusable,
} from "./native/index.js";

/**
 * Inverted dropout's multiplier: 1 / (1 - rate) where u >= rate, else 0, with u
 * uniform in [0, 1) from a counter-based hash of (seed, index) (murmur3's
 * finaliser over a Weyl sequence): the same bits on every backend and in the
 * native GapDropout kernel. tf.dropout's seeded uniform draws took 320 ms per
 * vgg_bn_drop training step.
 */
export function dropoutMultiplier(size: number, rate: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  const keep = 1 / (1 - rate);
  const threshold = rate * 2 ** 32;
  for (let i = 0; i < size; i++) {
    let h = (seed + Math.imul(i, 0x9e3779b9)) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    out[i] = h >>> 0 >= threshold ? keep : 0;
  }
  return out;
}

/** x * dropoutMultiplier(x.size, rate, seed). */
export function seededDropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (nativeApplies(x)) return tf.engine().runKernel(NATIVE_DROPOUT, { x }, { rate, seed }) as T;
  return tf.tidy(() => tf.mul(x, tf.tensor(dropoutMultiplier(x.size, rate, seed), x.shape, "float32"))) as T;
}

/** An affine map onto an integer grid: value = (q - zeroPoint) * scale, q in [qmin, qmax]. */
export interface QuantGrid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** Fake quantization: x rounded (ties to even) and clamped onto the grid, as floats: (clamp(round(x / scale) + zp, qmin, qmax) - zp) * scale. */
export function fakeQuantize<T extends tf.Tensor>(x: T, grid: QuantGrid): T {
  if (nativeApplies(x)) return tf.engine().runKernel(NATIVE_FAKE_QUANTIZE, { x }, { ...grid }) as T;
  const { scale, zeroPoint, qmin, qmax } = grid;
  return tf.tidy(() => {
    const q = tf.clipByValue(tf.add(tf.round(tf.div(x, scale)), zeroPoint), qmin, qmax);
    return tf.mul(tf.sub(q, zeroPoint), scale);
  }) as T;
}

/** Per-channel batch-norm parameters and statistics. */
export interface BatchNormTensors {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  scale: tf.Tensor1D;
  offset: tf.Tensor1D;
}

/** Inference batch norm, then ReLU when `relu` (one pass natively). */
export function batchNormInference<T extends tf.Tensor>(x: T, { mean, variance, scale, offset }: BatchNormTensors, eps: number, relu: boolean): T {
  if (relu && nativeApplies(x, mean, variance, scale, offset)) {
    return tf.engine().runKernel(NATIVE_BN_RELU, { x, mean, variance, offset, scale }, { varianceEpsilon: eps }) as T;
  }
  const y = tf.batchNorm(x, mean, variance, offset, scale, eps) as T;
  return relu ? tf.relu(y) : y;
}

/**
 * Training-mode batch norm over all axes but the last, then ReLU when `relu`: y, and the
 * batch mean and biased variance, kept (outside any tidy; the caller owns them). Natively
 * one forward kernel and one backward kernel through the batch statistics (the ReLU's output
 * is saved as the backward's mask).
 */
export function batchNormTraining<T extends tf.Tensor>(x: T, scale: tf.Tensor1D, offset: tf.Tensor1D, eps: number, relu: boolean) {
  if (!nativeApplies(x)) {
    const { mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]);
    const a = tf.mul(scale, tf.rsqrt(tf.add(variance, eps)));
    const y = tf.add(tf.mul(x, a), tf.sub(offset, tf.mul(mean, a))) as T;
    return { y: relu ? tf.relu(y) : y, mean: tf.keep(mean as tf.Tensor1D), variance: tf.keep(variance as tf.Tensor1D) };
  }
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, g, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const save = args[3] as tf.GradSaveFunc;
    const [y, m, v] = tf.engine().runKernel(NATIVE_BN_TRAIN, { x: xs, scale: g, offset: b }, { eps, relu }) as tf.Tensor[];
    save(relu ? [xs, m!, v!, g, y!] : [xs, m!, v!, g]);
    // Clones: the saved tensors are freed after backprop, the batch stats outlive it.
    mean = tf.keep(tf.clone(m!) as tf.Tensor1D);
    variance = tf.keep(tf.clone(v!) as tf.Tensor1D);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sm, sv, sg, sy] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        const inputs = { x: sx, dy: dy as tf.Tensor, mean: sm, variance: sv, scale: sg, ...(sy ? { mask: sy } : {}) };
        return tf.engine().runKernel(NATIVE_BN_GRAD, inputs, { eps }) as tf.Tensor[];
      },
    };
  });
  const y = f(x, scale, offset) as T;
  return { y, mean: mean!, variance: variance! };
}

/** running * (1 - momentum) + batch * momentum, for the running mean and variance at once. */
export function blendRunningStats(
  running: { mean: tf.Tensor1D; variance: tf.Tensor1D },
  batch: { mean: tf.Tensor1D; variance: tf.Tensor1D },
  momentum: number,
): [tf.Tensor1D, tf.Tensor1D] {
  const inputs = { runningMean: running.mean, runningVar: running.variance, mean: batch.mean, variance: batch.variance };
  if (nativeApplies(...Object.values(inputs))) return tf.engine().runKernel(NATIVE_BN_UPDATE, inputs, { momentum }) as [tf.Tensor1D, tf.Tensor1D];
  const blend = (r: tf.Tensor1D, b: tf.Tensor1D) => tf.add(tf.mul(r, 1 - momentum), tf.mul(b, momentum)) as tf.Tensor1D;
  return [blend(running.mean, batch.mean), blend(running.variance, batch.variance)];
}

/** The activation after a conv and batch norm. */
export type Activation = "none" | "relu" | "relu6";

/** A conv, for folding a batch norm into it: its filter (and bias) are only made when the fold runs. */
export interface ConvForFold {
  filterShape: readonly number[];
  filter(): tf.Tensor4D;
  bias(): tf.Tensor | undefined;
  stride: number;
  padding: number;
  depthwise: boolean;
}

/**
 * act(bn(conv(x)) [+ residual]) with the inference batch norm folded into the conv
 * (PyTorch's fuse_conv_bn_weights; the fold itself is in the native kernel):
 *   w' = w * a,  b' = (b - mean) * a + beta,  a = gamma / sqrt(var + eps),
 * a residual add and the activation as oneDNN post-ops (GapFusedConv2D). A conv bias b
 * enters as mean - b. Null where the native kernels do not run it: the caller then runs
 * the layers unfused. Matches them to float32 rounding, not bit for bit.
 */
export function foldedConvBatchNorm(x: tf.Tensor4D, conv: ConvForFold, bn: BatchNormTensors, eps: number, activation: Activation, residual?: tf.Tensor4D): tf.Tensor4D | null {
  const { stride, padding, depthwise } = conv;
  if (!nativeApplies(x, bn.scale, bn.offset, bn.mean, bn.variance) || !nativeConvFusable(x.shape, conv.filterShape, stride, padding, depthwise)) return null;
  const bias = conv.bias();
  const mean = bias ? tf.sub(bn.mean, bias) : bn.mean;
  const inputs = { x, filter: conv.filter(), scale: bn.scale, offset: bn.offset, mean, variance: bn.variance, ...(residual ? { residual } : {}) };
  return tf.engine().runKernel(NATIVE_CONV_FUSED, inputs, { strides: stride, pad: padding, activation, depthwise, eps }) as tf.Tensor4D;
}

/** relu(a + b), the residual add. */
export function addRelu<T extends tf.Tensor>(a: T, b: T): T {
  if (nativeApplies(a, b) && a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i])) {
    return tf.engine().runKernel(NATIVE_ADD_RELU, { a, b }, {}) as T;
  }
  return tf.relu(tf.add(a, b)) as T;
}

/** What one SGD update of a parameter needs besides the parameter, its gradient and momentum buffer. */
export interface SgdHyperparameters {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/**
 * One torch.optim.SGD update (dampening 0) of w with gradient grad:
 *   g = grad + weightDecay * w
 *   buf = momentum * buf + g          (buf = g on the first step: buffer absent)
 *   step = nesterov ? g + momentum * buf : buf
 *   w' = w - lr * step
 * Returns w' and buf (absent without momentum). `overwrite`: the caller assigns them back to w and buffer, so
 * the native kernel may write them over w and buffer (see GapSgd).
 */
export function sgdUpdate(w: tf.Tensor, grad: tf.Tensor, buffer: tf.Tensor | undefined, h: SgdHyperparameters, overwrite = false): { param: tf.Tensor; buffer?: tf.Tensor } {
  if (nativeApplies(w, grad)) {
    const inputs: tf.NamedTensorMap = buffer ? { param: w, grad, buffer } : { param: w, grad };
    const [param, buf] = tf.engine().runKernel(NATIVE_SGD, inputs, { ...h, overwrite }) as tf.Tensor[];
    return { param: param!, buffer: buf ?? undefined };
  }
  const g = h.weightDecay > 0 ? tf.add(grad, tf.mul(w, h.weightDecay)) : grad;
  if (h.momentum <= 0) return { param: tf.sub(w, tf.mul(g, h.lr)) };
  const buf = buffer ? tf.add(tf.mul(buffer, h.momentum), g) : g;
  const step = h.nesterov ? tf.add(g, tf.mul(buf, h.momentum)) : buf;
  return { param: tf.sub(w, tf.mul(step, h.lr)), buffer: buf };
}
