/**
 * Simulated int8 inference: a float model whose conv/linear weights hold exactly the
 * dequantized int8 values of the folded model and whose activations are rounded and
 * clamped onto their uint8 grid at every quantization point, so its outputs are what an
 * int8 deployment computes (up to float32 accumulation order).
 */
import * as tf from "@tensorflow/tfjs-core";
import { createModel, fakeQuantize, type ForwardOptions, type Model, type ModelConfig, type Network, type QuantizationHooks } from "@gap/ml-core";
import { quantizationPoints } from "./calibrate.js";
import { ACTIVATION_QMAX, ACTIVATION_QMIN, dequantizeWeights, type ActivationQParams } from "./int8.js";
import { channelOfIndex, outputChannels, type QuantizedModel } from "./quantize.js";

/** fakeQuantize on tensors: (clamp(round(x / scale) + zp, 0, 127) - zp) * scale, ties to even. */
export function fakeQuantizeTensor<T extends tf.Tensor>(x: T, { scale, zeroPoint }: ActivationQParams): T {
  return fakeQuantize(x, { scale, zeroPoint, qmin: ACTIVATION_QMIN, qmax: ACTIVATION_QMAX });
}

/**
 * Puts the folded quantized model into a network of the same architecture. Each conv or
 * linear weight becomes its dequantized int8 values. A folded BatchNorm becomes the
 * identity carrying the folded bias (weight 1, running mean 0, running var 1 - eps, bias b'),
 * and the layer's own bias is set to 0, so a pruning mask on that bias cannot touch b'.
 */
export function loadQuantized(network: Network, q: QuantizedModel): void {
  const params = new Map(network.params.map((p) => [p.name, p] as const));
  const batchNorms = new Map(network.batchNorms.map((bn) => [bn.name, bn] as const));
  const assignments: Array<[tf.Variable, Float32Array]> = [];
  const problems: string[] = [];
  const assign = (name: string, variable: tf.Variable | undefined, values: Float32Array) => {
    if (!variable) problems.push(`${name}: not in the model`);
    else if (variable.size !== values.length) problems.push(`${name}: ${values.length} values for shape [${variable.shape}]`);
    else assignments.push([variable, values]);
  };
  for (const layer of q.layers) {
    const weight = params.get(`${layer.module}.weight`);
    if (weight && (weight.kind !== layer.kind || !tf.util.arraysEqual(weight.variable.shape, layer.shape))) {
      problems.push(`${layer.module}.weight: quantized ${layer.kind} [${layer.shape}], model has ${weight.kind} [${weight.variable.shape}]`);
      continue;
    }
    const channels = layer.scales.length === 1 ? 1 : outputChannels(layer.kind, layer.shape);
    const channelOf = channels === 1 ? () => 0 : channelOfIndex(channels);
    assign(`${layer.module}.weight`, weight?.variable, dequantizeWeights({ values: layer.values, scales: layer.scales }, channelOf));
    const ownBias = params.get(`${layer.module}.bias`);
    if (layer.batchNorm === null) {
      if (ownBias || layer.bias) assign(`${layer.module}.bias`, ownBias?.variable, layer.bias ?? new Float32Array(0));
      continue;
    }
    const bn = batchNorms.get(layer.batchNorm);
    if (!bn) {
      problems.push(`${layer.batchNorm}: no such BatchNorm`);
      continue;
    }
    const n = bn.weight.variable.size;
    if (ownBias) assign(ownBias.name, ownBias.variable, new Float32Array(ownBias.variable.size));
    assign(bn.weight.name, bn.weight.variable, new Float32Array(n).fill(1));
    assign(bn.bias.name, bn.bias.variable, layer.bias ?? new Float32Array(n));
    assign(bn.runningMean.name, bn.runningMean.variable, new Float32Array(n));
    // eval BatchNorm divides by sqrt(var + eps): 1 up to float rounding.
    assign(bn.runningVar.name, bn.runningVar.variable, new Float32Array(n).fill(1 - bn.eps));
  }
  const assigned = new Set(assignments.map(([v]) => v));
  const missing = [...network.params, ...network.buffers].filter((e) => !assigned.has(e.variable)).map((e) => e.name);
  if (missing.length > 0) problems.push(`not in the quantized model: ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", ..." : ""}`);
  if (problems.length > 0) throw new Error(`quantized model does not fit ${network.config.architecture}: ${problems.join("; ")}`);
  for (const [variable, values] of assignments) tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
}

/**
 * The simulated int8 model on top of `network` (which it takes over: disposing the
 * result disposes it). Eval mode only: a training forward throws.
 */
export function simulateQuantized(network: Network, q: QuantizedModel): Model {
  loadQuantized(network, q);
  const points = quantizationPoints(network);
  const unknown = points.filter((p) => !q.activations.has(p));
  const unused = [...q.activations.keys()].filter((p) => !points.includes(p));
  if (unknown.length + unused.length > 0) {
    throw new Error(
      `quantized model does not fit ${network.config.architecture}: points without qparams [${unknown.join(", ")}], qparams of no point [${unused.join(", ")}]`,
    );
  }
  const hooks: QuantizationHooks = { activation: (point, x) => fakeQuantizeTensor(x, q.activations.get(point)!) };
  const withHooks = (options: ForwardOptions): ForwardOptions => {
    if (options.training) throw new Error("a simulated quantized model runs in eval mode only");
    return { ...options, quantization: hooks };
  };
  return {
    config: network.config,
    params: network.params,
    buffers: network.buffers,
    normalize: (x) => network.normalize(x),
    forwardNormalized: (z, options) => network.forwardNormalized(z, withHooks(options)),
    forward: (x, options) => network.forward(x, withHooks(options)),
    commitBatchStats: () => network.commitBatchStats(),
    discardBatchStats: () => network.discardBatchStats(),
    dispose: () => network.dispose(),
  };
}

const sameConfig = (a: ModelConfig, b: ModelConfig): boolean =>
  a.architecture === b.architecture &&
  a.numClasses === b.numClasses &&
  a.inputShape.height === b.inputShape.height &&
  a.inputShape.width === b.inputShape.width &&
  a.inputShape.channels === b.inputShape.channels;

/** Builds the architecture and loads the quantized model into it (see simulateQuantized). */
export function simulatedQuantizedModel(config: ModelConfig, q: QuantizedModel): Model {
  if (!sameConfig(config, q.config)) {
    throw new Error(`the quantized model is a ${JSON.stringify(q.config)}, not a ${JSON.stringify(config)}`);
  }
  const network = createModel(config, "zeros");
  try {
    return simulateQuantized(network, q);
  } catch (error) {
    network.dispose();
    throw error;
  }
}
