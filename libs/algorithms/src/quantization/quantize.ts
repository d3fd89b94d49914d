/**
 * 8-bit post-training static quantization of a model, as PyTorch's eager fbgemm flow
 * (fuse, calibrate, convert): every BatchNorm is folded into the conv or linear before
 * it, every conv and linear weight (depthwise and the final classifier included) becomes
 * int8, symmetric per output channel (or per tensor), biases stay float, and each
 * quantization point gets affine uint8 qparams over [0, 127] from its calibrated range.
 */
import { countParameters, type Masks, type ModelConfig, type Network, type ParamKind } from "@gap/ml-core";
import { activationQParams, quantizeWeights, type ActivationQParams } from "./int8.js";
import type { Calibration } from "./calibrate.js";

export type WeightKind = Extract<ParamKind, "conv" | "depthwise_conv" | "linear">;

const WEIGHT_KINDS: readonly ParamKind[] = ["conv", "depthwise_conv", "linear"];

/** A conv or linear of the folded float model. */
export interface FoldedLayer {
  /** Module name: the weight was `${module}.weight`. */
  module: string;
  kind: WeightKind;
  /** Weight shape in the TensorFlow.js layout. */
  shape: number[];
  /** Folded weight, TensorFlow.js layout. */
  weight: Float32Array;
  /** Folded bias; null when the layer has neither a bias nor a BatchNorm. */
  bias: Float32Array | null;
  /** The BatchNorm folded into it, null when none follows it. */
  batchNorm: string | null;
}

/** A conv or linear of the quantized (folded) model. */
export interface QuantizedLayer {
  module: string;
  kind: WeightKind;
  /** Weight shape in the TensorFlow.js layout. */
  shape: number[];
  /** int8 weight, TensorFlow.js layout; the weight is values[i] * scales[channel of i]. */
  values: Int8Array;
  /** One scale per output channel, or a single one when quantized per tensor. */
  scales: Float32Array;
  /**
   * Float bias of the fused layer. fbgemm keeps it in float too (and rounds it to
   * int32 with scale input_scale * weight_scale inside the kernel: negligible).
   */
  bias: Float32Array | null;
  batchNorm: string | null;
}

export interface QuantizedModel {
  config: ModelConfig;
  perChannel: boolean;
  /** In the model's parameter order. */
  layers: QuantizedLayer[];
  /** Activation qparams per quantization point, in forward order. */
  activations: Map<string, ActivationQParams>;
  /** Parameter count of the float model before folding (for the size report). */
  floatParameters: number;
}

/** Number of output channels of a weight in the TensorFlow.js layout. */
export function outputChannels(kind: WeightKind, shape: readonly number[]): number {
  // conv HWIO and linear [in, out]: last axis; depthwise [h, w, C, 1]: axis 2.
  return (kind === "depthwise_conv" ? shape[2] : shape[shape.length - 1]) as number;
}

/**
 * Output channel of flat index i in the TensorFlow.js layout. The output axis is the
 * last one, or (depthwise) followed only by a size-1 axis, so it is i mod channels.
 */
export const channelOfIndex =
  (channels: number) =>
  (i: number): number =>
    i % channels;

/**
 * Folds each BatchNorm into the conv or linear registered just before it (the four
 * architectures register every BatchNorm right after the layer it follows), as
 * torch.ao.nn.utils.fuse_conv_bn_eval: with s = gamma / sqrt(running_var + eps),
 *   W' = W * s (per output channel),   b' = beta + (b - running_mean) * s.
 */
export function foldBatchNorms(model: Network): FoldedLayer[] {
  const bnByWeight = new Map(model.batchNorms.map((bn) => [bn.weight.name, bn] as const));
  const used = new Set<string>();
  const layers: FoldedLayer[] = [];
  const { params } = model;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (!WEIGHT_KINDS.includes(p.kind)) continue;
    if (!p.name.endsWith(".weight")) throw new Error(`cannot quantize ${p.name}: weights are named <module>.weight`);
    const module = p.name.slice(0, -".weight".length);
    const kind = p.kind as WeightKind;
    const shape = [...p.variable.shape];
    const channels = outputChannels(kind, shape);
    used.add(p.name);
    let next = i + 1;
    const biasParam = params[next]?.name === `${module}.bias` && params[next]!.kind === "bias" ? params[next++]! : undefined;
    if (biasParam) used.add(biasParam.name);
    const bn = params[next]?.kind === "bn_weight" ? bnByWeight.get(params[next]!.name) : undefined;

    const weight = Float32Array.from(p.variable.dataSync());
    const bias = biasParam ? Float32Array.from(biasParam.variable.dataSync()) : null;
    if (!bn) {
      layers.push({ module, kind, shape, weight, bias, batchNorm: null });
      continue;
    }
    if (bn.weight.variable.size !== channels) throw new Error(`cannot fold ${bn.name} (${bn.weight.variable.size} channels) into ${module} (${channels})`);
    used.add(bn.weight.name).add(bn.bias.name);
    const [gamma, beta, mean, variance] = [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((e) => e.variable.dataSync());
    const s = Float64Array.from(gamma!, (g, c) => g / Math.sqrt(variance![c]! + bn.eps));
    const channelOf = channelOfIndex(channels);
    layers.push({
      module,
      kind,
      shape,
      weight: weight.map((w, k) => w * s[channelOf(k)]!),
      bias: Float32Array.from(s, (sc, c) => beta![c]! + ((bias ? bias[c]! : 0) - mean![c]!) * sc),
      batchNorm: bn.name,
    });
  }
  const left = params.filter((p) => !used.has(p.name)).map((p) => p.name);
  if (left.length > 0) throw new Error(`cannot quantize ${model.config.architecture}: parameters outside any conv/linear(+BatchNorm): ${left.join(", ")}`);
  return layers;
}

export interface QuantizeOptions {
  /** Weight scales per output channel (fbgemm's default) or one per tensor. */
  perChannel: boolean;
}

/**
 * The quantized model of a float model (eval mode) and the activation ranges its
 * calibration observed. Pruned weights must already be exactly 0 in the model
 * (applyMasks); they stay 0 as int8.
 */
export function quantizeModel(model: Network, calibration: Calibration, { perChannel }: QuantizeOptions): QuantizedModel {
  if (calibration.size === 0) throw new Error("quantizeModel: the calibration observed no quantization points");
  const layers = foldBatchNorms(model).map(({ weight, ...layer }): QuantizedLayer => {
    const channels = perChannel ? outputChannels(layer.kind, layer.shape) : 1;
    const { values, scales } = quantizeWeights(weight, channels, perChannel ? channelOfIndex(channels) : () => 0);
    return { ...layer, values, scales };
  });
  const activations = new Map([...calibration].map(([point, { min, max }]) => [point, activationQParams(min, max)] as const));
  return { config: model.config, perChannel, layers, activations, floatParameters: countParameters(model) };
}

export interface QuantizedSize {
  /** 4 bytes per parameter of the float model. */
  before: number;
  /** 1 byte per int8 weight, 4 per scale and per float (bias) of the folded model, 8 per activation point. */
  after: number;
  /** As `after`, with each int8 weight tensor stored as a bitmap of its nonzeros (1 bit per weight) plus their bytes. */
  sparseAfter: number;
  /**
   * As `after`, counting only the weights the masks keep (pruned ones are absent, no index is
   * stored), the way a pruned float model's size counts 4 bytes per kept parameter. `after` without masks.
   */
  keptAfter: number;
}

function countNonzero(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

/** Sizes of a quantized model; `masks` (by weight name, 1 = kept) are the pruning masks it was made under. */
export function quantizedSize(q: QuantizedModel, masks?: Masks): QuantizedSize {
  let weights = 0;
  let sparseWeights = 0;
  let keptWeights = 0;
  let floats = 0;
  for (const layer of q.layers) {
    const nonzero = countNonzero(layer.values);
    const mask = masks?.get(`${layer.module}.weight`);
    weights += layer.values.length;
    sparseWeights += Math.ceil(layer.values.length / 8) + nonzero;
    keptWeights += mask ? countNonzero(mask) : layer.values.length;
    floats += layer.scales.length + (layer.bias?.length ?? 0);
  }
  // Each activation point: a float32 scale and an int32 zero point.
  const rest = 4 * floats + 8 * q.activations.size;
  return { before: 4 * q.floatParameters, after: weights + rest, sparseAfter: sparseWeights + rest, keptAfter: keptWeights + rest };
}
