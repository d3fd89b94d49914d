/** Network: the Model implementation shared by every architecture. */
import * as tf from "@tensorflow/tfjs-core";
import { type BatchNorm, type BatchStats, ForwardContext } from "./layers.js";
import type { BufferEntry, ForwardOptions, Model, ModelConfig, ParamEntry } from "./model.js";

/** CIFAR-10 statistics used by the reference code for input normalisation. */
export const CIFAR10_MEAN = [0.491, 0.482, 0.447] as const;
export const CIFAR10_STD = [0.247, 0.243, 0.262] as const;

/** PyTorch's BatchNorm momentum. */
export const BN_MOMENTUM = 0.1;

const average = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Per-channel mean and std for an input with this many channels (1: the averages). */
export function normalizationStats(channels: number): { mean: number[]; std: number[] } {
  if (channels === 3) return { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
  if (channels === 1) return { mean: [average(CIFAR10_MEAN)], std: [average(CIFAR10_STD)] };
  throw new Error(`normalization is defined for 1 or 3 channels, not ${channels}`);
}

/** The computation of an architecture, from normalized NHWC input to logits. */
export type NetworkBody = (z: tf.Tensor4D, ctx: ForwardContext) => tf.Tensor2D;

export class Network implements Model {
  /** Batch statistics of training-mode forwards since the last commit/discard, in order. */
  private pending: BatchStats[] = [];

  constructor(
    readonly config: ModelConfig,
    readonly params: readonly ParamEntry[],
    readonly buffers: readonly BufferEntry[],
    readonly batchNorms: readonly BatchNorm[],
    private readonly body: NetworkBody,
  ) {}

  normalize(x: tf.Tensor4D): tf.Tensor4D {
    const { mean, std } = normalizationStats(this.config.inputShape.channels);
    this.checkInput(x);
    return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)));
  }

  forwardNormalized(z: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D {
    this.checkInput(z);
    return tf.tidy(() => {
      const ctx = new ForwardContext(options, (stats) => this.pending.push(stats));
      // The int8 model's QuantStub: the normalized input is quantized first.
      return this.body(ctx.quant("input", z), ctx);
    });
  }

  forward(x: tf.Tensor4D, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => this.forwardNormalized(this.normalize(x), options));
  }

  /**
   * Applies the recorded statistics one forward at a time, as PyTorch would have done
   * after each of those forwards.
   */
  commitBatchStats(): void {
    for (const stats of this.pending) stats.bn.update(stats, BN_MOMENTUM);
    this.discardBatchStats();
  }

  discardBatchStats(): void {
    for (const { mean, variance } of this.pending) tf.dispose([mean, variance]);
    this.pending = [];
  }

  dispose(): void {
    this.discardBatchStats();
    for (const { variable } of [...this.params, ...this.buffers]) variable.dispose();
  }

  private checkInput(x: tf.Tensor4D): void {
    const { height, width, channels } = this.config.inputShape;
    const [, h, w, c] = x.shape;
    if (x.rank !== 4 || h !== height || w !== width || c !== channels) {
      throw new Error(`expected NHWC input [N, ${height}, ${width}, ${channels}], got [${x.shape}]`);
    }
  }
}
