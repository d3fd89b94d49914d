/**
 * ModelBuilder: creates the tf.Variables of a network with PyTorch state_dict names,
 * in state_dict order (architectures call it in module registration order), draws
 * their seeded initial values and decides which are prunable.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BiasInit, drawBias, drawWeights, InitRng, type WeightInit } from "./init.js";
import { BatchNorm, Conv2d, Linear } from "./layers.js";
import type { BufferEntry, ModelConfig, ParamEntry, ParamKind } from "./model.js";
import { Network, type NetworkBody } from "./network.js";

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Zero padding on every side (PyTorch's integer padding). */
  padding?: number;
  bias?: boolean;
  /** groups = in_channels = out_channels. */
  depthwise?: boolean;
  init: WeightInit;
  biasInit?: BiasInit;
}

export interface LinearOptions {
  bias?: boolean;
  init: WeightInit;
  biasInit?: BiasInit;
  /** The final classifier is not prunable. */
  classifier?: boolean;
}

/**
 * The initial weights' seed, or "zeros" for a model whose weights are loaded next: every
 * weight and bias 0 and nothing drawn (drawing took 12-23 ms for ResNet20, about 200 ms for
 * GoogLeNet, on each job that then overwrote them).
 */
export type InitSeed = number | "zeros";

export class ModelBuilder {
  readonly params: ParamEntry[] = [];
  readonly buffers: BufferEntry[] = [];
  readonly batchNorms: BatchNorm[] = [];
  private readonly rng: InitRng | null;
  private readonly names = new Set<string>();

  constructor(seed: InitSeed) {
    this.rng = seed === "zeros" ? null : new InitRng(seed);
  }

  conv2d(name: string, o: Conv2dOptions): Conv2d {
    const k = o.kernelSize;
    const depthwise = o.depthwise ?? false;
    if (depthwise && o.inChannels !== o.outChannels) throw new Error(`${name}: depthwise conv needs in == out channels`);
    const fanIn = (depthwise ? 1 : o.inChannels) * k * k;
    const fanOut = o.outChannels * k * k;
    const shape = depthwise ? [k, k, o.inChannels, 1] : [k, k, o.inChannels, o.outChannels];
    const weight = this.param(
      `${name}.weight`,
      depthwise ? "depthwise_conv" : "conv",
      this.initial(shape, (rng) => drawWeights(rng, fanOut * (depthwise ? 1 : o.inChannels), o.init, { fanIn, fanOut })),
      true,
    );
    const bias = o.bias ? this.bias(name, o.outChannels, o.biasInit ?? "pytorch_default", fanIn, true) : null;
    return new Conv2d(weight, bias, o.stride ?? 1, o.padding ?? 0, depthwise);
  }

  linear(name: string, inFeatures: number, outFeatures: number, o: LinearOptions): Linear {
    const prunable = !(o.classifier ?? false);
    const fans = { fanIn: inFeatures, fanOut: outFeatures };
    const weight = this.param(
      `${name}.weight`,
      "linear",
      this.initial([inFeatures, outFeatures], (rng) => drawWeights(rng, inFeatures * outFeatures, o.init, fans)),
      prunable,
    );
    const bias = (o.bias ?? true) ? this.bias(name, outFeatures, o.biasInit ?? "pytorch_default", inFeatures, prunable) : null;
    return new Linear(weight, bias);
  }

  /** BatchNorm with PyTorch's defaults: weight 1, bias 0, running mean 0, running variance 1. */
  batchNorm(name: string, channels: number, eps = 1e-5): BatchNorm {
    const weight = this.param(`${name}.weight`, "bn_weight", tf.ones([channels]), false);
    const bias = this.param(`${name}.bias`, "bn_bias", tf.zeros([channels]), false);
    const runningMean = this.buffer(`${name}.running_mean`, tf.zeros([channels]));
    const runningVar = this.buffer(`${name}.running_var`, tf.ones([channels]));
    const bn = new BatchNorm(name, weight, bias, runningMean, runningVar, eps);
    this.batchNorms.push(bn);
    return bn;
  }

  build(config: ModelConfig, body: NetworkBody): Network {
    return new Network(config, this.params, this.buffers, this.batchNorms, body);
  }

  private bias(module: string, size: number, init: BiasInit, fanIn: number, prunable: boolean): ParamEntry {
    return this.param(`${module}.bias`, "bias", this.initial([size], (rng) => drawBias(rng, size, init, fanIn)), prunable);
  }

  /** A weight's or bias's initial values: drawn from the seeded generator, or zeros (seed "zeros"). */
  private initial(shape: number[], draw: (rng: InitRng) => Float32Array): tf.Tensor {
    return this.rng ? tf.tensor(draw(this.rng), shape) : tf.zeros(shape);
  }

  private param(name: string, kind: ParamKind, value: tf.Tensor, prunable: boolean): ParamEntry {
    this.claim(name);
    // Unnamed variables: tfjs variable names are global, and several models may coexist.
    const entry = { name, kind, prunable, variable: tf.variable(value, true) };
    value.dispose();
    this.params.push(entry);
    return entry;
  }

  private buffer(name: string, value: tf.Tensor): BufferEntry {
    this.claim(name);
    const entry = { name, variable: tf.variable(value, false) };
    value.dispose();
    this.buffers.push(entry);
    return entry;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`duplicate parameter name ${name}`);
    this.names.add(name);
  }
}
