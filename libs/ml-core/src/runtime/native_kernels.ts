/**
 * Optional native kernels for the wasm backend: a Node-API addon on oneDNN
 * (libs/native, built by `npm ci`'s postinstall where libdnnl-dev is
 * installed) that computes directly on the wasm heap. A wasm tensor's bytes
 * live at backend.dataIdMap.get(dataId).memoryOffset inside
 * backend.wasm.HEAPU8.buffer; the addon gets that ArrayBuffer plus byte
 * offsets and shapes and writes the output in place, so nothing is copied.
 *
 * Registered over the wasm kernels (the previous kernel stays the fallback
 * for anything unsupported: NCHW, non-float32, padding oneDNN cannot express):
 * Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter, FusedBatchNorm
 * (inference), strided Slice, PadV2 and the float32 binary ops with a
 * per-channel operand, plus kernels of our own: training-mode batch
 * norm (GapBatchNormTrain, GapBatchNormGrad; used by nn/layers.ts), inference
 * batch norm + ReLU (GapBatchNormRelu) and the gradients of inference batch
 * norm and ReLU (runtime/gradients.ts). The batch-norm kernels take an
 * optional fused ReLU (forward: attr relu; backward: input mask = the ReLU's
 * output, whose step multiplies dy first), saving the separate ReLU passes.
 * GapSgd and GapBatchNormUpdate fuse the optimizer's per-parameter update and
 * the running statistics' update (bit for bit the tf ops they replace).
 *
 * Off when GAP_NATIVE=0, when the built .node file is missing, or when it
 * fails to load; nativeStatus() says which and why.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  backend_util,
  getKernel,
  slice_util,
  registerKernel,
  unregisterKernel,
  util,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { windowGeometry, type PadSpec, type Rounding } from "./padding.js";
import { runtimeWrappers } from "./wasm_kernels.js";

type KernelArgs = Parameters<KernelFunc>[0];
type Pair = [number, number];

interface NativeAddon {
  conv2d(kind: 0 | 1 | 2, heap: ArrayBuffer, a: number, b: number, out: number, p: number[]): void;
  conv2dFused(
    heap: ArrayBuffer,
    x: number,
    w: number,
    scale: number,
    offset: number,
    mean: number,
    variance: number,
    eps: number,
    residual: number,
    y: number,
    wFolded: number,
    p: number[],
    activation: 0 | 1 | 2,
  ): void;
  batchNormInference(
    heap: ArrayBuffer,
    x: number,
    mean: number,
    variance: number,
    scale: number,
    shift: number,
    y: number,
    n: number,
    h: number,
    w: number,
    c: number,
    eps: number,
    relu: 0 | 1,
    mask: number,
  ): void;
  batchNormTrain(
    heap: ArrayBuffer,
    x: number,
    scale: number,
    shift: number,
    y: number,
    mean: number,
    variance: number,
    n: number,
    h: number,
    w: number,
    c: number,
    eps: number,
    relu: 0 | 1,
  ): void;
  batchNormBackward(
    heap: ArrayBuffer,
    x: number,
    dy: number,
    mean: number,
    variance: number,
    scale: number,
    dx: number,
    dscale: number,
    dshift: number,
    n: number,
    h: number,
    w: number,
    c: number,
    eps: number,
    mask: number,
  ): void;
  slice4(heap: ArrayBuffer, x: number, y: number, shape: number[], begin: number[], size: number[]): void;
  pad4(heap: ArrayBuffer, x: number, y: number, shape: number[], before: number[], after: number[], value: number): void;
  binary(op: number, heap: ArrayBuffer, a: number, b: number, out: number, rows: number, c: number, aFull: 0 | 1, bFull: 0 | 1): void;
  reluGrad(heap: ArrayBuffer, dy: number, x: number, dx: number, n: number): void;
  maxPoolGrad(heap: ArrayBuffer, dy: number, x: number, dx: number, p: number[]): void;
  relu6Grad(heap: ArrayBuffer, dy: number, x: number, dx: number, n: number): void;
  relu6OutputGrad(heap: ArrayBuffer, dy: number, y: number, dx: number, n: number): void;
  channelSum(heap: ArrayBuffer, x: number, out: number, rows: number, c: number): void;
  matmul(heap: ArrayBuffer, a: number, b: number, c: number, p: number[]): void;
  maxPool(heap: ArrayBuffer, x: number, y: number, p: number[]): void;
  dropout(heap: ArrayBuffer, x: number, y: number, n: number, rate: number, seed: number): void;
  sgd(heap: ArrayBuffer, w: number, grad: number, buf: number, wOut: number, bufOut: number, n: number, lr: number, momentum: number, weightDecay: number, nesterov: 0 | 1): void;
  batchNormUpdate(heap: ArrayBuffer, runMean: number, runVar: number, mean: number, variance: number, runMeanOut: number, runVarOut: number, c: number, momentum: number): void;
  info(): { version: string; isa: string; threads: number; cached: number };
}

export interface NativeStatus {
  /** Native kernels are registered and in use. */
  enabled: boolean;
  /** Why they are off (GAP_NATIVE=0, not built, failed to load). */
  reason?: string;
  /** The .node file. */
  path?: string;
  /** oneDNN version, CPU ISA it dispatches to, and its thread count. */
  onednn?: string;
  isa?: string;
  threads?: number;
  kernels?: string[];
}

/** Kernel names of our own for training-mode batch norm (wasm backend, native only). */
export const NATIVE_BN_TRAIN = "GapBatchNormTrain";
export const NATIVE_BN_GRAD = "GapBatchNormGrad";
/** dx of inference-mode batch norm: dy * scale / sqrt(variance + eps) (runtime/gradients.ts). */
export const NATIVE_BN_INFERENCE_GRAD = "GapBatchNormInferenceGrad";
/**
 * relu(FusedBatchNorm(x)) in one pass (inference; nn/layers.ts). Same inputs and
 * attrs as FusedBatchNorm; its gradient is in runtime/gradients.ts.
 */
export const NATIVE_BN_RELU = "GapBatchNormRelu";
/** relu(a + b) of two same-shape float32 tensors in one pass (the residual add; nn/layers.ts). */
export const NATIVE_ADD_RELU = "GapAddRelu";
/**
 * Inference batch norm folded into a conv (PyTorch's fuse_conv_bn_weights), NHWC
 * float32: inputs x, filter, scale, offset, mean, variance, residual (optional);
 * attrs strides, pad, activation ("none", "relu", "relu6"), depthwise (the filter
 * is [KH, KW, C, multiplier]), eps. Outputs
 *   y = act(conv2d(x, filter * a) + offset - mean * a (+ residual)),
 *   the folded filter * a (kept for the input gradient),
 * a = scale / sqrt(variance + eps) per output channel: the fold and the weight
 * reorder in one native pass, then one oneDNN inference conv with the add and the
 * activation as post-ops (nn/layers.ts). Gradients in runtime/gradients.ts.
 */
export const NATIVE_CONV_FUSED = "GapFusedConv2D";
/** ReLU6's gradient dy * (0 < x <= 6) in one pass (runtime/gradients.ts). */
export const NATIVE_RELU6_GRAD = "GapRelu6Grad";
/** ReLU6's gradient from its output y, dy * (0 < y < 6), in one pass (the fused conv's; runtime/gradients.ts). */
export const NATIVE_RELU6_OUTPUT_GRAD = "GapRelu6OutputGrad";
/** ReLU's gradient dy * (x > 0) in one pass (runtime/gradients.ts). */
export const NATIVE_RELU_GRAD = "GapReluGrad";
/**
 * One torch.optim.SGD step of a float32 parameter (train/sgd.ts): inputs param,
 * grad, buffer (the momentum buffer; absent on the first step); attrs lr,
 * momentum, weightDecay, nesterov. Outputs the new param and, with momentum > 0,
 * the new buffer: the float32 operations of sgd.ts's tf ops in their order (bit
 * for bit), in one kernel instead of up to eight.
 */
export const NATIVE_SGD = "GapSgd";
/**
 * The running statistics' update of a batch norm (nn/layers.ts): inputs
 * runningMean, runningVar, mean, variance (float32 [C]); attr momentum. Outputs
 * running * (1 - momentum) + batch * momentum for both (bit for bit the tf ops).
 */
export const NATIVE_BN_UPDATE = "GapBatchNormUpdate";
/**
 * Inverted dropout of a float32 tensor: input x; attrs rate, seed (uint32). Output
 * x * dropoutMultiplier(rate, seed) (nn/layers.ts) in one threaded pass, the same
 * bits as its JS fallback. Linear in x: its gradient is the same kernel on dy.
 */
export const NATIVE_DROPOUT = "GapDropout";
/** Elementwise kernels below this many elements stay on wasm (the call overhead wins). */
const MIN_ELEMENTWISE = 16384;

let addon: NativeAddon | null | undefined;
let status: NativeStatus = { enabled: false, reason: "not loaded yet" };
/** Runtime switch (tests, kernel benchmarks): when false the wrappers call the previous kernel. */
let active = true;
const ours = new WeakSet<KernelFunc>();
const calls = new Map<string, number>();
const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);

/** How often each native kernel actually ran natively (not via its fallback), since the last reset. */
export function nativeKernelCalls(reset = false): Record<string, number> {
  const out = Object.fromEntries(calls);
  if (reset) calls.clear();
  return out;
}

/** Where the addon's build output should be: libs/native/build/Release/gap_native.node. */
export function nativeAddonPath(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve("@gap/native/package.json");
    return path.join(path.dirname(pkg), "build", "Release", "gap_native.node");
  } catch {
    const here = path.dirname(fileURLToPath(import.meta.url));
    return path.resolve(here, "../../../native/build/Release/gap_native.node");
  }
}

function loadAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  const file = nativeAddonPath();
  if (/^(0|false|off|no)$/i.test((process.env["GAP_NATIVE"] ?? "").trim())) {
    status = { enabled: false, reason: "disabled by GAP_NATIVE=0" };
    return null;
  }
  if (!existsSync(file)) {
    status = { enabled: false, reason: `addon not built (${file} missing; needs libdnnl-dev, then npm run build -w @gap/native)` };
    return null;
  }
  try {
    // How long OpenMP's worker threads spin after a parallel loop before they
    // sleep (read by libgomp when it loads). libgomp's default (300000) spins
    // long enough to steal the core the single-threaded wasm code runs on;
    // sleeping at once (PASSIVE) pays a wake-up per loop. Interleaved runs
    // (ResNet20, batch 128): 10000 vs PASSIVE gave training 186 vs 195 ms,
    // evaluation 195 vs 203 ms per 512, PGD-10 1.15 vs 1.20 s (medians), and
    // 1000000 made training slower (210 ms).
    if (process.env["OMP_WAIT_POLICY"] == null) process.env["GOMP_SPINCOUNT"] ??= "10000";
    const loaded = createRequire(import.meta.url)(file) as NativeAddon;
    const info = loaded.info();
    addon = loaded;
    status = { enabled: false, path: file, onednn: info.version, isa: info.isa, threads: info.threads };
  } catch (e) {
    status = { enabled: false, path: file, reason: `addon failed to load: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` };
  }
  return addon;
}

/** Whether native kernels are on, and if not, why. */
export function nativeStatus(): NativeStatus {
  return { ...status, enabled: status.enabled && active };
}

/**
 * Turns the registered native kernels off (the previous wasm kernels run) or
 * back on, in this process. For comparisons; GAP_NATIVE=0 is the normal switch.
 */
export function setNativeKernelsActive(on: boolean): void {
  active = on;
}

/** True when native kernels are registered and switched on. */
export function nativeKernelsActive(): boolean {
  return status.enabled && active && addon != null;
}

function heapOf(backend: BackendWasm): ArrayBuffer {
  // Re-read on every call: allocating outputs can grow (and replace) the heap.
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
}

function offsetOf(backend: BackendWasm, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data == null) throw new Error("native kernel: tensor data not found on the wasm backend");
  return data.memoryOffset;
}

const pair = (v: number | Pair | undefined, d = 1): Pair => (v == null ? [d, d] : typeof v === "number" ? [v, v] : v);

interface ConvGeometry {
  /** [N, H, W, Ci, KH, KW, Co, OH, OW, sH, sW, dH, dW, padT, padL, padB, padR, groups] */
  p: number[];
  outShape: [number, number, number, number];
}

/**
 * The conv geometry in oneDNN terms, or null where oneDNN's output-size rule
 * (floor((H + padT + padB - effK) / s) + 1) cannot reproduce tfjs's output
 * with non-negative padding.
 */
function convGeometry(
  xShape: readonly number[],
  filterShape: readonly number[],
  strides: number | Pair,
  dilations: number | Pair | undefined,
  pad: PadSpec,
  rounding: Rounding | undefined,
  depthwise = false,
): ConvGeometry | null {
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const [N, H, W, Ci] = xShape as [number, number, number, number];
  // Depthwise filters are [KH, KW, Ci, multiplier]: Ci groups of one input channel each.
  const [KH, KW, fCi, fOut] = filterShape as [number, number, number, number];
  const Co = depthwise ? Ci * fOut : fOut;
  if (fCi !== Ci) return null;
  const info = backend_util.computeConv2DInfo(
    [N, H, W, Ci],
    [KH, KW, Ci, Co],
    strides,
    dilations ?? 1,
    pad,
    rounding,
  );
  const { outHeight: OH, outWidth: OW, strideHeight: sH, strideWidth: sW } = info;
  const { dilationHeight: dH, dilationWidth: dW, effectiveFilterHeight: eKH, effectiveFilterWidth: eKW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  if (N * H * W * Ci === 0 || OH <= 0 || OW <= 0 || Co === 0 || top < 0 || left < 0) return null;
  const fit = (size: number, before: number, given: number, eff: number, s: number, out: number): number | null => {
    const ok = (after: number) => after >= 0 && Math.floor((size + before + after - eff) / s) + 1 === out && size + before + after >= eff;
    if (ok(given)) return given;
    const need = (out - 1) * s + eff - size - before;
    return ok(need) ? need : ok(Math.max(need, 0)) ? Math.max(need, 0) : null;
  };
  const bottom = fit(H, top, info.padInfo.bottom, eKH, sH, OH);
  const right = fit(W, left, info.padInfo.right, eKW, sW, OW);
  if (bottom == null || right == null) return null;
  return {
    p: [N, H, W, Ci, KH, KW, Co, OH, OW, sH, sW, dH, dW, top, left, bottom, right, depthwise ? Ci : 1],
    outShape: [N, OH, OW, Co],
  };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

interface ConvAttrs {
  strides: number | Pair;
  pad: PadSpec;
  dataFormat?: "NHWC" | "NCHW";
  dilations?: number | Pair;
  dimRoundingMode?: Rounding;
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

function nativeConv2D(original: KernelFunc, depthwise = false): KernelFunc {
  return (args: KernelArgs) => {
    const { x, filter } = args.inputs;
    const a = args.attrs as unknown as ConvAttrs;
    if (!nativeKernelsActive() || a.dataFormat === "NCHW" || x!.dtype !== "float32" || filter!.dtype !== "float32") {
      return original(args);
    }
    const g = convGeometry(x!.shape, filter!.shape, a.strides, a.dilations, a.pad, a.dimRoundingMode, depthwise);
    if (g == null) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(g.outShape, "float32");
    count(depthwise ? "DepthwiseConv2dNative" : "Conv2D");
    addon!.conv2d(0, heapOf(backend), offsetOf(backend, x!), offsetOf(backend, filter!), offsetOf(backend, out), g.p);
    return out;
  };
}

function nativeConv2DBackpropInput(original: KernelFunc, depthwise = false): KernelFunc {
  return (args: KernelArgs) => {
    const { dy, filter } = args.inputs;
    const a = args.attrs as unknown as ConvAttrs;
    if (!nativeKernelsActive() || a.dataFormat === "NCHW" || dy!.dtype !== "float32" || filter!.dtype !== "float32" || a.inputShape == null) {
      return original(args);
    }
    const g = convGeometry(a.inputShape, filter!.shape, a.strides, a.dilations, a.pad, a.dimRoundingMode, depthwise);
    if (g == null || !sameShape(dy!.shape, g.outShape)) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput([...a.inputShape], "float32");
    count(depthwise ? "DepthwiseConv2dNativeBackpropInput" : "Conv2DBackpropInput");
    addon!.conv2d(1, heapOf(backend), offsetOf(backend, dy!), offsetOf(backend, filter!), offsetOf(backend, out), g.p);
    return out;
  };
}

function nativeConv2DBackpropFilter(original: KernelFunc, depthwise = false): KernelFunc {
  return (args: KernelArgs) => {
    const { x, dy } = args.inputs;
    const a = args.attrs as unknown as ConvAttrs;
    if (!nativeKernelsActive() || a.dataFormat === "NCHW" || x!.dtype !== "float32" || dy!.dtype !== "float32" || a.filterShape == null) {
      return original(args);
    }
    const g = convGeometry(x!.shape, a.filterShape, a.strides, a.dilations, a.pad, a.dimRoundingMode, depthwise);
    if (g == null || !sameShape(dy!.shape, g.outShape)) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput([...a.filterShape], "float32");
    count(depthwise ? "DepthwiseConv2dNativeBackpropFilter" : "Conv2DBackpropFilter");
    addon!.conv2d(2, heapOf(backend), offsetOf(backend, x!), offsetOf(backend, dy!), offsetOf(backend, out), g.p);
    return out;
  };
}

/** Whether GapFusedConv2D can run this conv: native kernels on and a geometry oneDNN expresses. */
export function nativeConvFusable(xShape: readonly number[], filterShape: readonly number[], strides: number | Pair, pad: PadSpec, depthwise = false): boolean {
  return nativeKernelsActive() && convGeometry(xShape, filterShape, strides, 1, pad, undefined, depthwise) != null;
}

function fusedConv2D(args: KernelArgs): TensorInfo[] {
  const { x, filter, scale, offset, mean, variance, residual } = args.inputs;
  const a = args.attrs as unknown as ConvAttrs & { activation: "none" | "relu" | "relu6"; depthwise?: boolean; eps: number };
  const g = convGeometry(x!.shape, filter!.shape, a.strides, 1, a.pad, undefined, a.depthwise === true);
  const activation = ["none", "relu", "relu6"].indexOf(a.activation);
  if (activation < 0) throw new Error(`${NATIVE_CONV_FUSED}: activation must be none, relu or relu6, got ${String(a.activation)}`);
  if (g == null) throw new Error(`${NATIVE_CONV_FUSED}: oneDNN cannot express x [${x!.shape}], filter [${filter!.shape}], pad ${JSON.stringify(a.pad)}`);
  const channels = g.outShape[3];
  const perChannel = [scale, offset, mean, variance];
  const float = [x, filter, ...perChannel, residual].every((t) => t == null || t.dtype === "float32");
  if (!float || perChannel.some((t) => t == null || t.shape.length !== 1 || t.shape[0] !== channels) || (residual != null && !sameShape(residual.shape, g.outShape))) {
    throw new Error(`${NATIVE_CONV_FUSED}: needs float32 inputs, scale/offset/mean/variance [${channels}] and residual [${g.outShape}]`);
  }
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput(g.outShape, "float32");
  const folded = backend.makeOutput([...filter!.shape], "float32");
  const off = (t: TensorInfo) => offsetOf(backend, t);
  count(NATIVE_CONV_FUSED);
  addon!.conv2dFused(
    heapOf(backend),
    off(x!),
    off(filter!),
    off(scale!),
    off(offset!),
    off(mean!),
    off(variance!),
    a.eps,
    residual == null ? -1 : off(residual),
    off(out),
    off(folded),
    g.p,
    activation as 0 | 1 | 2,
  );
  return [out, folded];
}

/** [N, H, W, C] of an NHWC (rank 4) or [N, C] (rank 2) tensor, else null. */
function nhwc(shape: readonly number[]): [number, number, number, number] | null {
  if (shape.length === 4) return shape as [number, number, number, number];
  if (shape.length === 2) return [shape[0]!, 1, 1, shape[1]!];
  return null;
}

/** FusedBatchNorm (inference, given mean and variance) as one oneDNN pass. */
function nativeFusedBatchNorm(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x, mean, variance, offset, scale } = args.inputs;
    if (!nativeKernelsActive()) return original(args);
    const dims = nhwc(x!.shape);
    if (dims == null || util.sizeFromShape(x!.shape) === 0) return original(args);
    const C = dims[3];
    const perChannel = (t: TensorInfo | undefined) => t == null || (t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === C);
    if (x!.dtype !== "float32" || !perChannel(mean) || !perChannel(variance) || !perChannel(offset) || !perChannel(scale)) {
      return original(args);
    }
    const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput([...x!.shape], "float32");
    const off = (t: TensorInfo | undefined) => (t == null ? -1 : offsetOf(backend, t));
    count("FusedBatchNorm");
    addon!.batchNormInference(
      heapOf(backend),
      off(x),
      off(mean),
      off(variance),
      off(scale),
      off(offset),
      off(out),
      ...dims,
      varianceEpsilon,
      0,
      -1,
    );
    return out;
  };
}

/**
 * GapBatchNormRelu: relu(FusedBatchNorm(x)) (inference) in one pass. Inputs and
 * attrs as FusedBatchNorm (all per-channel float32 of an NHWC or [N, C] x: the
 * caller checks, see nn/layers.ts).
 */
function batchNormRelu(args: KernelArgs): TensorInfo {
  const { x, mean, variance, offset, scale } = args.inputs;
  const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
  const dims = nhwc(x!.shape);
  if (dims == null) throw new Error(`${NATIVE_BN_RELU}: input must be rank 2 or 4, got [${x!.shape}]`);
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput([...x!.shape], "float32");
  const off = (t: TensorInfo | undefined) => (t == null ? -1 : offsetOf(backend, t));
  count(NATIVE_BN_RELU);
  addon!.batchNormInference(heapOf(backend), off(x), off(mean), off(variance), off(scale), off(offset), off(out), ...dims, varianceEpsilon, 1, -1);
  return out;
}

/**
 * GapBatchNormTrain: inputs x, scale, offset; attrs eps, relu (optional: y =
 * max(0, bn(x))). Outputs y, batch mean, biased batch variance.
 */
function batchNormTrain(args: KernelArgs): TensorInfo[] {
  const { x, scale, offset } = args.inputs;
  const { eps, relu } = args.attrs as unknown as { eps: number; relu?: boolean };
  const dims = nhwc(x!.shape);
  if (dims == null) throw new Error(`${NATIVE_BN_TRAIN}: input must be rank 2 or 4, got [${x!.shape}]`);
  const C = dims[3];
  const backend = args.backend as BackendWasm;
  const y = backend.makeOutput([...x!.shape], "float32");
  const mean = backend.makeOutput([C], "float32");
  const variance = backend.makeOutput([C], "float32");
  count(NATIVE_BN_TRAIN);
  addon!.batchNormTrain(
    heapOf(backend),
    offsetOf(backend, x!),
    offsetOf(backend, scale!),
    offsetOf(backend, offset!),
    offsetOf(backend, y),
    offsetOf(backend, mean),
    offsetOf(backend, variance),
    ...dims,
    eps,
    relu === true ? 1 : 0,
  );
  return [y, mean, variance];
}

/**
 * GapBatchNormGrad: inputs x, dy, mean, variance (biased, from the forward),
 * scale, mask (optional: the fused ReLU's output y; dy * step(y) is used);
 * attrs eps. Outputs dx, dscale, doffset (the full batch-norm backward,
 * including the paths through the batch statistics).
 */
function batchNormGrad(args: KernelArgs): TensorInfo[] {
  const { x, dy, mean, variance, scale, mask } = args.inputs;
  const { eps } = args.attrs as unknown as { eps: number };
  const dims = nhwc(x!.shape);
  if (dims == null) throw new Error(`${NATIVE_BN_GRAD}: input must be rank 2 or 4, got [${x!.shape}]`);
  const C = dims[3];
  const backend = args.backend as BackendWasm;
  const dx = backend.makeOutput([...x!.shape], "float32");
  const dscale = backend.makeOutput([C], "float32");
  const doffset = backend.makeOutput([C], "float32");
  count(NATIVE_BN_GRAD);
  addon!.batchNormBackward(
    heapOf(backend),
    offsetOf(backend, x!),
    offsetOf(backend, dy!),
    offsetOf(backend, mean!),
    offsetOf(backend, variance!),
    offsetOf(backend, scale!),
    offsetOf(backend, dx),
    offsetOf(backend, dscale),
    offsetOf(backend, doffset),
    ...dims,
    eps,
    mask == null ? -1 : offsetOf(backend, mask),
  );
  return [dx, dscale, doffset];
}

/**
 * Slice of a 4-byte tensor of rank <= 4 that is not one contiguous run: the
 * wasm backend's generic strided copy took 12-50 ms for the ResNet shortcut's
 * [2048, 2, 16, 32] -> [2048, 1, 16, 32] (a quarter of a PGD step).
 */
function nativeSlice(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    if (!nativeKernelsActive() || x!.shape.length > 4 || x!.shape.length === 0 || !["float32", "int32"].includes(x!.dtype)) {
      return original(args);
    }
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = slice_util.parseSliceParams(x as never, begin, size);
    // A contiguous slice is a cheap view/copy in the original; only strided ones come here.
    if (slice_util.isSliceContinous(x!.shape, b, s) || util.sizeFromShape(s) === 0) return original(args);
    const lead = 4 - x!.shape.length;
    const pad = (v: number[], fill: number) => [...new Array<number>(lead).fill(fill), ...v];
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(s, x!.dtype);
    count("Slice");
    addon!.slice4(heapOf(backend), offsetOf(backend, x!), offsetOf(backend, out), pad([...x!.shape], 1), pad(b, 0), pad(s, 1));
    return out;
  };
}

/** Matmuls below this many multiply-adds stay on wasm (a classifier's [128, 64] x [64, 10]). */
const MIN_MATMUL_MACS = 1 << 20;

/**
 * BatchMatMul of rank-2 or rank-3 float32 tensors with equal batch sizes, transposes as
 * strides, on oneDNN (both threads); the wasm kernel took 6-14 ms per
 * [128, 512] x [512, 512] product and its transposed forms in vgg_bn_drop's classifier.
 */
function nativeBatchMatMul(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const rank = a!.shape.length;
    if (!nativeKernelsActive() || a!.dtype !== "float32" || b!.dtype !== "float32" || (rank !== 2 && rank !== 3) || b!.shape.length !== rank) {
      return original(args);
    }
    // Rank 2 (tf.matMul of matrices reaches the kernel as is) is a batch of one.
    const [batch, a1, a2] = (rank === 2 ? [1, ...a!.shape] : a!.shape) as [number, number, number];
    const [batchB, b1, b2] = (rank === 2 ? [1, ...b!.shape] : b!.shape) as [number, number, number];
    const [m, k] = transposeA ? [a2, a1] : [a1, a2];
    const [kb, n] = transposeB ? [b2, b1] : [b1, b2];
    if (batch !== batchB || k !== kb || batch * m * k * n < MIN_MATMUL_MACS) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(rank === 2 ? [m, n] : [batch, m, n], "float32");
    count("BatchMatMul");
    addon!.matmul(heapOf(backend), offsetOf(backend, a!), offsetOf(backend, b!), offsetOf(backend, out), [batch, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0]);
    return out;
  };
}

/**
 * Sum over every axis but the last (a bias's or a per-channel scale's gradient)
 * of a float32 tensor, in one threaded pass accumulating in double; the wasm
 * Sum transposes first (~8 ms for [128, 32, 32, 64]). Anything else: the original.
 */
function nativeSum(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x!.shape.length;
    if (!nativeKernelsActive() || x!.dtype !== "float32" || rank < 2 || util.sizeFromShape(x!.shape) < MIN_ELEMENTWISE) return original(args);
    const axes = [...new Set(util.parseAxisParam(axis, x!.shape))].sort((a, b) => a - b);
    if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return original(args);
    const c = x!.shape[rank - 1]!;
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(keepDims ? [...new Array<number>(rank - 1).fill(1), c] : [c], "float32");
    count("Sum");
    addon!.channelSum(heapOf(backend), offsetOf(backend, x!), offsetOf(backend, out), util.sizeFromShape(x!.shape) / c, c);
    return out;
  };
}

/**
 * GapBatchNormInferenceGrad: inputs dy, variance, scale (optional), mask
 * (optional: GapBatchNormRelu's output y; dy * step(y) is used); attrs eps. Output dx.
 */
function batchNormInferenceGrad(args: KernelArgs): TensorInfo {
  const { dy, variance, scale, mask } = args.inputs;
  const { eps } = args.attrs as unknown as { eps: number };
  const dims = nhwc(dy!.shape);
  if (dims == null) throw new Error(`${NATIVE_BN_INFERENCE_GRAD}: dy must be rank 2 or 4, got [${dy!.shape}]`);
  const backend = args.backend as BackendWasm;
  const dx = backend.makeOutput([...dy!.shape], "float32");
  const scaleOff = scale == null ? -1 : offsetOf(backend, scale);
  count(NATIVE_BN_INFERENCE_GRAD);
  // Inference batch norm of dy with mean 0 and no offset is exactly dy * scale / sqrt(var + eps).
  addon!.batchNormInference(heapOf(backend), offsetOf(backend, dy!), -1, offsetOf(backend, variance!), scaleOff, -1, offsetOf(backend, dx), ...dims, eps, 0, mask == null ? -1 : offsetOf(backend, mask));
  return dx;
}

/**
 * GapReluGrad (dy * step(x)), GapRelu6Grad (dy * (0 < x <= 6)) and
 * GapRelu6OutputGrad (dy * (0 < y < 6)): inputs dy, x (same shape, float32); NaN
 * where x is NaN.
 */
function gatedGrad(name: string, op: "reluGrad" | "relu6Grad" | "relu6OutputGrad"): KernelFunc {
  return (args: KernelArgs) => {
    const { dy, x } = args.inputs;
    const backend = args.backend as BackendWasm;
    const dx = backend.makeOutput([...x!.shape], "float32");
    count(name);
    addon![op](heapOf(backend), offsetOf(backend, dy!), offsetOf(backend, x!), offsetOf(backend, dx), util.sizeFromShape(x!.shape));
    return dx;
  };
}

/** GapAddRelu: inputs a, b (same shape, float32). Output relu(a + b); gradient in runtime/gradients.ts. */
function addRelu(args: KernelArgs): TensorInfo {
  const { a, b } = args.inputs;
  if (!sameShape(a!.shape, b!.shape)) throw new Error(`${NATIVE_ADD_RELU}: shapes differ, [${a!.shape}] and [${b!.shape}]`);
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput([...a!.shape], "float32");
  const n = util.sizeFromShape(a!.shape);
  const c = a!.shape.length > 0 ? a!.shape[a!.shape.length - 1]! : 1;
  count(NATIVE_ADD_RELU);
  if (n > 0) addon!.binary(6, heapOf(backend), offsetOf(backend, a!), offsetOf(backend, b!), offsetOf(backend, out), n / c, c, 1, 1);
  return out;
}

interface BinaryPlan {
  outShape: number[];
  rows: number;
  c: number;
  aFull: 0 | 1;
  bFull: 0 | 1;
}

const SAME_SHAPE_MIN_ELEMENTS = 1 << 18;

/**
 * How the addon's binary kernel covers a op b: one full and the other
 * per-channel ([C], [1, .., C]: the last axis), where the wasm backend's
 * broadcasting path is 4-17x slower, or both full with the same shape from
 * SAME_SHAPE_MIN_ELEMENTS on. Else null: other broadcasts, small tensors.
 */
function binaryPlan(aShape: readonly number[], bShape: readonly number[]): BinaryPlan | null {
  const an = util.sizeFromShape([...aShape]);
  const bn = util.sizeFromShape([...bShape]);
  if (Math.max(an, bn) < MIN_ELEMENTWISE) return null;
  if (an === bn) {
    // Same shapes: wasm's SIMD loop is as fast while the data is in cache; from 2^18
    // elements (gradient accumulation of activations) two threads win, below that
    // waking the second thread (~15 us) costs more than it saves.
    if (an < SAME_SHAPE_MIN_ELEMENTS || !sameShape(aShape, bShape)) return null;
    const c = aShape[aShape.length - 1]!;
    return { outShape: [...aShape], rows: an / c, c, aFull: 1, bFull: 1 };
  }
  const perChannel = (full: readonly number[], small: readonly number[]) =>
    small.length >= 1 &&
    small.length <= full.length &&
    small[small.length - 1] === full[full.length - 1] &&
    small.slice(0, -1).every((d) => d === 1);
  const [full, small, aFull] = an > bn ? [aShape, bShape, 1 as const] : [bShape, aShape, 0 as const];
  if (!perChannel(full, small)) return null;
  const c = full[full.length - 1]!;
  return { outShape: [...full], rows: Math.max(an, bn) / c, c, aFull, bFull: aFull === 1 ? 0 : 1 };
}

/** Add, Sub, Multiply, RealDiv, Minimum, Maximum on float32, one operand per-channel. */
function nativeBinary(op: number, name: string): (original: KernelFunc) => KernelFunc {
  return (original) => (args: KernelArgs) => {
    const { a, b } = args.inputs;
    if (!nativeKernelsActive() || a!.dtype !== "float32" || b!.dtype !== "float32") return original(args);
    const plan = binaryPlan(a!.shape, b!.shape);
    if (plan == null) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(plan.outShape, "float32");
    count(name);
    const off = (t: TensorInfo) => offsetOf(backend, t);
    addon!.binary(op, heapOf(backend), off(a!), off(b!), off(out), plan.rows, plan.c, plan.aFull, plan.bFull);
    return out;
  };
}

/** PadV2 (constant padding) of a float32 tensor of rank 1-4. */
function nativePad(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const { paddings, constantValue } = args.attrs as unknown as { paddings: Array<[number, number]>; constantValue: number };
    const rank = x!.shape.length;
    if (!nativeKernelsActive() || x!.dtype !== "float32" || rank === 0 || rank > 4 || paddings.length !== rank) return original(args);
    const outShape = x!.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]);
    if (paddings.some(([lo, hi]) => lo < 0 || hi < 0) || util.sizeFromShape(x!.shape) === 0) return original(args);
    const lead = 4 - rank;
    const pad = (v: number[], fill: number) => [...new Array<number>(lead).fill(fill), ...v];
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(outShape, "float32");
    count("PadV2");
    addon!.pad4(
      heapOf(backend),
      offsetOf(backend, x!),
      offsetOf(backend, out),
      pad([...x!.shape], 1),
      pad(paddings.map((p) => p[0]), 0),
      pad(paddings.map((p) => p[1]), 0),
      constantValue,
    );
    return out;
  };
}

/**
 * A max pool's output shape and the addon's parameters [N, H, W, C, OH, OW, KH, KW,
 * sH, sW, padT, padL] for an NHWC input and the pool's attrs.
 */
function poolGeometry(xShape: readonly number[], attrs: NamedAttrMap) {
  const a = attrs as unknown as { filterSize: number | Pair; strides: number | Pair; pad: PadSpec; dimRoundingMode?: Rounding };
  const filter = pair(a.filterSize);
  const g = windowGeometry(xShape, filter, a.strides, 1, a.pad, a.dimRoundingMode);
  const [N, H, W, C] = xShape as [number, number, number, number];
  return {
    outShape: [N, g.outHeight, g.outWidth, C],
    p: [N, H, W, C, g.outHeight, g.outWidth, ...filter, g.strideHeight, g.strideWidth, g.pad[1][0], g.pad[2][0]],
  };
}

/** MaxPool (NHWC float32) as one threaded pass; the wasm kernel measured 0.5 ms per GoogLeNet pool. */
function nativeMaxPool(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    if (!nativeKernelsActive() || x!.shape.length !== 4 || x!.dtype !== "float32" || util.sizeFromShape(x!.shape) === 0) return original(args);
    const { outShape, p } = poolGeometry(x!.shape, args.attrs!);
    if (outShape[1]! < 1 || outShape[2]! < 1) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(outShape, "float32");
    count("MaxPool");
    addon!.maxPool(heapOf(backend), offsetOf(backend, x!), offsetOf(backend, out), p);
    return out;
  };
}

/** MaxPoolGrad (NHWC float32): one threaded pass instead of wasm_kernels.ts's composed argmax. */
function nativeMaxPoolGrad(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { dy, input } = args.inputs;
    if (!nativeKernelsActive() || input!.shape.length !== 4 || input!.dtype !== "float32" || dy!.dtype !== "float32") return original(args);
    const { outShape, p } = poolGeometry(input!.shape, args.attrs!);
    if (!sameShape(dy!.shape, outShape) || util.sizeFromShape(input!.shape) === 0) return original(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput([...input!.shape], "float32");
    count("MaxPoolGrad");
    addon!.maxPoolGrad(heapOf(backend), offsetOf(backend, dy!), offsetOf(backend, input!), offsetOf(backend, out), p);
    return out;
  };
}

function dropout(args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  const { rate, seed } = args.attrs as unknown as { rate: number; seed: number };
  if (x!.dtype !== "float32") throw new Error(`${NATIVE_DROPOUT}: x must be float32`);
  const backend = args.backend as BackendWasm;
  const y = backend.makeOutput([...x!.shape], "float32");
  count(NATIVE_DROPOUT);
  addon!.dropout(heapOf(backend), offsetOf(backend, x!), offsetOf(backend, y), util.sizeFromShape(x!.shape), rate, seed);
  return y;
}

function sgd(args: KernelArgs): TensorInfo[] {
  const { param, grad, buffer } = args.inputs;
  const { lr, momentum, weightDecay, nesterov } = args.attrs as unknown as { lr: number; momentum: number; weightDecay: number; nesterov: boolean };
  const tensors = buffer == null ? [param!, grad!] : [param!, grad!, buffer];
  if (tensors.some((t) => t.dtype !== "float32" || !sameShape(t.shape, param!.shape))) {
    throw new Error(`${NATIVE_SGD}: param, grad and buffer must be float32 tensors of one shape`);
  }
  const backend = args.backend as BackendWasm;
  const w = backend.makeOutput([...param!.shape], "float32");
  const buf = momentum > 0 ? backend.makeOutput([...param!.shape], "float32") : null;
  const off = (t: TensorInfo | null | undefined) => (t == null ? -1 : offsetOf(backend, t));
  count(NATIVE_SGD);
  const n = util.sizeFromShape(param!.shape);
  addon!.sgd(heapOf(backend), off(param), off(grad), off(buffer), off(w), off(buf), n, lr, momentum, weightDecay, nesterov ? 1 : 0);
  return buf == null ? [w] : [w, buf];
}

function batchNormUpdate(args: KernelArgs): TensorInfo[] {
  const { runningMean, runningVar, mean, variance } = args.inputs;
  const { momentum } = args.attrs as unknown as { momentum: number };
  const c = runningMean!.shape[0]!;
  if ([runningMean, runningVar, mean, variance].some((t) => t!.dtype !== "float32" || t!.shape.length !== 1 || t!.shape[0] !== c)) {
    throw new Error(`${NATIVE_BN_UPDATE}: inputs must all be float32 [C]`);
  }
  const backend = args.backend as BackendWasm;
  const outs = [backend.makeOutput([c], "float32"), backend.makeOutput([c], "float32")];
  const off = (t: TensorInfo) => offsetOf(backend, t);
  count(NATIVE_BN_UPDATE);
  addon!.batchNormUpdate(heapOf(backend), off(runningMean!), off(runningVar!), off(mean!), off(variance!), off(outs[0]!), off(outs[1]!), c, momentum);
  return outs;
}

/**
 * SplitV (the concat gradient): the wasm kernel slices with its own slow strided
 * copy, bypassing the registered (native) Slice; this routes each piece through it.
 */
function nativeSplitV(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const sliceKernel = getKernel("Slice", "wasm");
    if (!nativeKernelsActive() || sliceKernel == null) return original(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
    const at = util.parseAxisParam(axis, x!.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, at);
    const begin = new Array<number>(x!.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x!.shape];
      size[at] = s;
      const piece = sliceKernel.kernelFunc({ inputs: { x: x! }, attrs: { begin: [...begin], size }, backend: args.backend }) as TensorInfo;
      begin[at]! += s;
      return piece;
    });
  };
}

const NATIVE_WRAPS: ReadonlyArray<[string, (original: KernelFunc) => KernelFunc]> = [
  ["Conv2D", nativeConv2D],
  ["Conv2DBackpropInput", nativeConv2DBackpropInput],
  ["Conv2DBackpropFilter", nativeConv2DBackpropFilter],
  ["DepthwiseConv2dNative", (original) => nativeConv2D(original, true)],
  ["DepthwiseConv2dNativeBackpropInput", (original) => nativeConv2DBackpropInput(original, true)],
  ["DepthwiseConv2dNativeBackpropFilter", (original) => nativeConv2DBackpropFilter(original, true)],
  ["FusedBatchNorm", nativeFusedBatchNorm],
  ["Slice", nativeSlice],
  ["PadV2", nativePad],
  ["MaxPool", nativeMaxPool],
  ["MaxPoolGrad", nativeMaxPoolGrad],
  ["SplitV", nativeSplitV],
  ["Sum", nativeSum],
  ["BatchMatMul", nativeBatchMatMul],
  ...(["Add", "Sub", "Multiply", "RealDiv", "Minimum", "Maximum"] as const).map(
    (name, op) => [name, nativeBinary(op, name)] as [string, (original: KernelFunc) => KernelFunc],
  ),
];

/**
 * Loads the addon (once) and registers its kernels over the current wasm
 * kernels; idempotent. Call after the wasm backend's own kernels and the
 * fixes of wasm_kernels.ts are registered. Returns the status.
 */
export function registerNativeKernels(): NativeStatus {
  const native = loadAddon();
  if (native == null) return nativeStatus();
  const kernels: string[] = [];
  for (const [name, wrap] of NATIVE_WRAPS) {
    const current = getKernel(name, "wasm");
    if (current == null) continue;
    kernels.push(name);
    if (ours.has(current.kernelFunc)) continue;
    const kernelFunc = wrap(current.kernelFunc);
    ours.add(kernelFunc);
    runtimeWrappers.add(kernelFunc);
    unregisterKernel(name, "wasm");
    registerKernel({ ...current, kernelFunc });
  }
  for (const [kernelName, kernelFunc] of [
    [NATIVE_BN_TRAIN, batchNormTrain],
    [NATIVE_BN_GRAD, batchNormGrad],
    [NATIVE_BN_INFERENCE_GRAD, batchNormInferenceGrad],
    [NATIVE_BN_RELU, batchNormRelu],
    [NATIVE_ADD_RELU, addRelu],
    [NATIVE_RELU_GRAD, gatedGrad(NATIVE_RELU_GRAD, "reluGrad")],
    [NATIVE_CONV_FUSED, fusedConv2D],
    [NATIVE_RELU6_GRAD, gatedGrad(NATIVE_RELU6_GRAD, "relu6Grad")],
    [NATIVE_RELU6_OUTPUT_GRAD, gatedGrad(NATIVE_RELU6_OUTPUT_GRAD, "relu6OutputGrad")],
    [NATIVE_SGD, sgd],
    [NATIVE_DROPOUT, dropout],
    [NATIVE_BN_UPDATE, batchNormUpdate],
  ] as const) {
    if (getKernel(kernelName, "wasm") == null) registerKernel({ kernelName, backendName: "wasm", kernelFunc });
    kernels.push(kernelName);
  }
  status = { ...status, enabled: true, reason: undefined, kernels };
  delete status.reason;
  return nativeStatus();
}
