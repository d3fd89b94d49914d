/**
 * A quantized model as safetensors, describing the folded model in the PyTorch layout:
 *   <module>.weight        I8  int8 weight ([out, in, kh, kw], depthwise [C, 1, kh, kw], linear [out, in])
 *   <module>.weight_scale  F32 one scale per output channel, or [1] per tensor (zero points are 0)
 *   <module>.bias          F32 the float bias of the fused layer (BatchNorm folded in)
 * and JSON metadata: the layers (module, kind, folded BatchNorm), the activation qparams
 * per quantization point, the model config.
 */
import {
  ARCHITECTURES,
  decodeSafetensors,
  encodeSafetensors,
  tfjsShape,
  torchShape,
  valuesFromTorchLayout,
  valuesToTorchLayout,
  type ModelConfig,
  type SafeTensor,
} from "@gap/ml-core";
import type { ActivationQParams } from "./int8.js";
import { outputChannels, type QuantizedLayer, type QuantizedModel, type WeightKind } from "./quantize.js";

export const QUANTIZED_MODEL_KIND = "quantized_model";

interface LayerMeta {
  module: string;
  kind: WeightKind;
  batch_norm: string | null;
}

/** Moves int8 values between layouts. */
function relayout(values: Int8Array, shape: number[], kind: WeightKind, to: "torch" | "tfjs"): { values: Int8Array; shape: number[] } {
  if (to === "torch") return { values: valuesToTorchLayout(kind, values, shape), shape: torchShape(kind, shape) };
  return { values: valuesFromTorchLayout(kind, values, shape), shape: tfjsShape(kind, shape) };
}

export function encodeQuantizedModel(q: QuantizedModel, metadata?: Record<string, string>): Uint8Array {
  const tensors: Record<string, SafeTensor> = {};
  for (const layer of q.layers) {
    const torch = relayout(layer.values, layer.shape, layer.kind, "torch");
    tensors[`${layer.module}.weight`] = { dtype: "I8", shape: torch.shape, data: torch.values };
    tensors[`${layer.module}.weight_scale`] = { dtype: "F32", shape: [layer.scales.length], data: layer.scales };
    if (layer.bias) tensors[`${layer.module}.bias`] = { dtype: "F32", shape: [layer.bias.length], data: layer.bias };
  }
  const layers: LayerMeta[] = q.layers.map((l) => ({ module: l.module, kind: l.kind, batch_norm: l.batchNorm }));
  const activations = Object.fromEntries([...q.activations].map(([point, p]) => [point, { scale: p.scale, zero_point: p.zeroPoint }]));
  return encodeSafetensors(tensors, {
    ...metadata,
    kind: QUANTIZED_MODEL_KIND,
    architecture: q.config.architecture,
    config: JSON.stringify(q.config),
    bits: "8",
    weights: q.perChannel ? "int8 symmetric per output channel" : "int8 symmetric per tensor",
    per_channel: String(q.perChannel),
    activation_scheme: "uint8 affine [0, 127]",
    layers: JSON.stringify(layers),
    activations: JSON.stringify(activations),
    float_parameters: String(q.floatParameters),
  });
}

function parseJson(metadata: Record<string, string>, key: string): unknown {
  try {
    return JSON.parse(metadata[key] ?? "");
  } catch {
    throw new Error(`quantized model: metadata "${key}" is missing or not JSON`);
  }
}

function parseConfig(value: unknown): ModelConfig {
  const c = value as ModelConfig;
  const shape = c?.inputShape;
  const ok =
    (ARCHITECTURES as readonly string[]).includes(c?.architecture) &&
    Number.isInteger(c.numClasses) &&
    [shape?.height, shape?.width, shape?.channels].every((d) => Number.isInteger(d) && d > 0);
  if (!ok) throw new Error(`quantized model: bad config ${JSON.stringify(value)}`);
  return { architecture: c.architecture, numClasses: c.numClasses, inputShape: { height: shape.height, width: shape.width, channels: shape.channels } };
}

export function decodeQuantizedModel(bytes: Uint8Array): QuantizedModel {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.kind !== QUANTIZED_MODEL_KIND) throw new Error(`not a quantized model (kind "${metadata.kind ?? ""}")`);
  const config = parseConfig(parseJson(metadata, "config"));
  const tensor = (name: string, dtype: "I8" | "F32") => {
    const t = tensors[name];
    if (!t || t.dtype !== dtype) throw new Error(`quantized model: missing ${dtype} tensor "${name}"`);
    return t;
  };
  const used = new Set<string>();
  const layers = (parseJson(metadata, "layers") as LayerMeta[]).map(({ module, kind, batch_norm }): QuantizedLayer => {
    if (kind !== "conv" && kind !== "depthwise_conv" && kind !== "linear") throw new Error(`quantized model: ${module} has unknown kind ${String(kind)}`);
    const weight = tensor(`${module}.weight`, "I8");
    const { values, shape } = relayout(weight.data as Int8Array, weight.shape, kind, "tfjs");
    const scales = tensor(`${module}.weight_scale`, "F32");
    const channels = outputChannels(kind, shape);
    if (scales.shape.length !== 1 || (scales.shape[0] !== 1 && scales.shape[0] !== channels)) {
      throw new Error(`quantized model: ${module}.weight_scale has shape [${scales.shape}] for ${channels} output channels`);
    }
    const bias = tensors[`${module}.bias`] ? tensor(`${module}.bias`, "F32") : undefined;
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== channels)) throw new Error(`quantized model: ${module}.bias has shape [${bias.shape}]`);
    for (const suffix of [".weight", ".weight_scale", ".bias"]) used.add(module + suffix);
    return {
      module,
      kind,
      shape,
      values,
      scales: scales.data as Float32Array,
      bias: bias ? (bias.data as Float32Array) : null,
      batchNorm: batch_norm ?? null,
    };
  });
  const extra = Object.keys(tensors).filter((name) => !used.has(name));
  if (extra.length > 0) throw new Error(`quantized model: tensors of no layer: ${extra.join(", ")}`);
  const perChannel = metadata.per_channel === "true";
  const activations = new Map<string, ActivationQParams>();
  for (const [point, p] of Object.entries(parseJson(metadata, "activations") as Record<string, { scale: number; zero_point: number }>)) {
    if (!(p?.scale > 0) || !Number.isInteger(p.zero_point)) throw new Error(`quantized model: bad qparams for ${point}`);
    activations.set(point, { scale: p.scale, zeroPoint: p.zero_point });
  }
  const floatParameters = Number(metadata.float_parameters);
  if (!Number.isInteger(floatParameters) || floatParameters < 0) throw new Error("quantized model: bad float_parameters");
  return { config, perChannel, layers, activations, floatParameters };
}
