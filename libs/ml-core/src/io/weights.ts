/**
 * Weights and masks as safetensors files in the PyTorch layout and with PyTorch
 * state_dict names, so that models move both ways between this code and PyTorch.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Masks, Model } from "../nn/model.js";
import { fromTorchLayout, type TensorKind, toTorchLayout, torchShape, valuesFromTorchLayout, valuesToTorchLayout } from "./layout.js";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "./safetensors.js";

const NUM_BATCHES_TRACKED = ".num_batches_tracked";

interface StateEntry {
  name: string;
  kind: TensorKind;
  variable: tf.Variable;
}

/**
 * Parameters and buffers in PyTorch state_dict order: each BatchNorm's running stats
 * follow its bias, as PyTorch registers them.
 */
function stateEntries(model: Model): StateEntry[] {
  const buffersByModule = new Map<string, StateEntry[]>();
  for (const b of model.buffers) {
    const module = b.name.slice(0, b.name.lastIndexOf("."));
    const list = buffersByModule.get(module) ?? [];
    list.push({ name: b.name, kind: "buffer", variable: b.variable });
    buffersByModule.set(module, list);
  }
  const entries: StateEntry[] = [];
  for (const p of model.params) {
    entries.push({ name: p.name, kind: p.kind, variable: p.variable });
    if (p.kind === "bn_bias") {
      const module = p.name.slice(0, -".bias".length);
      entries.push(...(buffersByModule.get(module) ?? []));
      buffersByModule.delete(module);
    }
  }
  for (const rest of buffersByModule.values()) entries.push(...rest);
  return entries;
}

/** BatchNorm module names (those that have a running_mean buffer). */
function batchNormModules(model: Model): string[] {
  return model.buffers.filter((b) => b.name.endsWith(".running_mean")).map((b) => b.name.slice(0, -".running_mean".length));
}

/**
 * The PyTorch state_dict of a model. num_batches_tracked is written (as 0: it is not
 * tracked here, and PyTorch ignores it when momentum is set) so that PyTorch's strict
 * load_state_dict accepts the file.
 */
export function stateDict(model: Model): Record<string, SafeTensor> {
  const out: Record<string, SafeTensor> = {};
  for (const e of stateEntries(model)) {
    const t = toTorchLayout(e.kind, e.variable);
    out[e.name] = { dtype: "F32", shape: t.shape, data: t.dataSync() as Float32Array };
    t.dispose();
    if (e.name.endsWith(".running_var")) {
      const module = e.name.slice(0, -".running_var".length);
      out[module + NUM_BATCHES_TRACKED] = { dtype: "I64", shape: [], data: new BigInt64Array(1) };
    }
  }
  return out;
}

export function saveWeights(model: Model, metadata?: Record<string, string>): Uint8Array {
  return encodeSafetensors(stateDict(model), { format: "pt", architecture: model.config.architecture, ...metadata });
}

const describe = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

function loadError(what: string, problems: Record<string, string[]>): Error {
  const parts = Object.entries(problems)
    .filter(([, list]) => list.length > 0)
    .map(([label, list]) => `${label} (${list.length}): ${list.slice(0, 20).join("; ")}${list.length > 20 ? "; ..." : ""}`);
  return new Error(`${what}:\n  ${parts.join("\n  ")}`);
}

/**
 * Why a PyTorch-layout state dict does not fit the model, or undefined when it fits:
 * every parameter and buffer must be present with its shape and F32 dtype;
 * num_batches_tracked is optional and ignored.
 */
export function stateDictProblem(model: Model, tensors: Record<string, SafeTensor>): Error | undefined {
  const entries = stateEntries(model);
  const optional = new Set(batchNormModules(model).map((m) => m + NUM_BATCHES_TRACKED));
  const expected = new Set(entries.map((e) => e.name));
  const missing: string[] = [];
  const mismatched: string[] = [];
  const unexpected = Object.keys(tensors).filter((name) => !expected.has(name) && !optional.has(name));
  for (const e of entries) {
    const t = tensors[e.name];
    if (!t) {
      missing.push(e.name);
      continue;
    }
    const want = torchShape(e.kind, e.variable.shape);
    if (t.dtype !== "F32" || describe(t.shape) !== describe(want)) {
      mismatched.push(`${e.name}: file has ${t.dtype} ${describe(t.shape)}, model needs F32 ${describe(want)}`);
    }
  }
  for (const name of optional) {
    const t = tensors[name];
    if (t && (t.shape.length !== 0 || t.dtype.startsWith("F"))) mismatched.push(`${name}: expected an integer scalar, got ${t.dtype} ${describe(t.shape)}`);
  }
  if (missing.length + unexpected.length + mismatched.length === 0) return undefined;
  return loadError(`weights do not fit ${model.config.architecture}`, { missing, unexpected, mismatched });
}

/** Loads a PyTorch-layout state dict into the model; nothing is assigned unless everything fits. */
export function loadStateDict(model: Model, tensors: Record<string, SafeTensor>): void {
  const problem = stateDictProblem(model, tensors);
  if (problem) throw problem;
  for (const e of stateEntries(model)) {
    const t = tensors[e.name] as SafeTensor;
    tf.tidy(() => e.variable.assign(fromTorchLayout(e.kind, tf.tensor(t.data as Float32Array, t.shape, "float32"))));
  }
}

export function loadWeights(model: Model, bytes: Uint8Array): void {
  loadStateDict(model, decodeSafetensors(bytes).tensors);
}

/** The masks' codec: U8 0/1 tensors named and laid out like the parameters in a PyTorch state_dict. */
export function saveMasks(model: Model, masks: Masks, metadata?: Record<string, string>): Uint8Array {
  const params = new Map(model.params.map((p) => [p.name, p] as const));
  const out: Record<string, SafeTensor> = {};
  for (const [name, mask] of masks) {
    const param = params.get(name);
    if (!param) throw new Error(`saveMasks: ${name} is not a parameter of ${model.config.architecture}`);
    if (mask.length !== param.variable.size) throw new Error(`saveMasks: ${name}: ${mask.length} mask values for parameter [${param.variable.shape}]`);
    const bad = mask.findIndex((v) => v !== 0 && v !== 1);
    if (bad >= 0) throw new Error(`saveMasks: ${name} has value ${mask[bad]}; masks must be 0 or 1`);
    out[name] = { dtype: "U8", shape: torchShape(param.kind, param.variable.shape), data: valuesToTorchLayout(param.kind, mask, param.variable.shape) };
  }
  return encodeSafetensors(out, { kind: "masks", architecture: model.config.architecture, ...metadata });
}

/** Reads masks (U8, or F32 0/1, in the PyTorch layout) back into the model's layout, checking every tensor. */
export function loadMasks(model: Model, bytes: Uint8Array): Map<string, Uint8Array> {
  const { tensors } = decodeSafetensors(bytes);
  const params = new Map(model.params.map((p) => [p.name, p] as const));
  const unexpected: string[] = [];
  const mismatched: string[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const param = params.get(name);
    if (!param) {
      unexpected.push(name);
      continue;
    }
    const want = torchShape(param.kind, param.variable.shape);
    if ((t.dtype !== "U8" && t.dtype !== "F32") || describe(t.shape) !== describe(want)) {
      mismatched.push(`${name}: file has ${t.dtype} ${describe(t.shape)}, needs U8 or F32 ${describe(want)}`);
    } else if (!(t.data as Uint8Array | Float32Array).every((v) => v === 0 || v === 1)) {
      mismatched.push(`${name}: values other than 0 and 1`);
    }
  }
  if (unexpected.length + mismatched.length > 0) {
    throw loadError(`masks do not fit ${model.config.architecture}`, { unexpected, mismatched });
  }
  return new Map(
    Object.entries(tensors).map(([name, t]) => {
      const param = params.get(name)!;
      return [name, valuesFromTorchLayout(param.kind, Uint8Array.from(t.data as Uint8Array | Float32Array), t.shape)];
    }),
  );
}
