/**
 * The contract with libs/native's addon (gap_native.node): its functions, the
 * named codes and parameter records they take, and its loading. The addon
 * computes on the wasm heap in place: a wasm tensor's bytes live at
 * backend.dataIdMap.get(dataId).memoryOffset inside backend.wasm.HEAPU8.buffer,
 * so every call takes that ArrayBuffer plus byte offsets (-1: input absent).
 *
 * Off when GAP_NATIVE=0, when the built .node file is missing, or when it fails
 * to load; nativeStatus() says which and why.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { util, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

export type KernelArgs = Parameters<KernelFunc>[0];

/** conv2d's direction (libs/native/src/conv.cc: Conv2d's kind). */
export const ConvDirection = { forward: 0, inputGradient: 1, filterGradient: 2 } as const;
export type ConvDirection = (typeof ConvDirection)[keyof typeof ConvDirection];

/** The activation after a fused conv (conv.cc: Conv2dFused). */
export const FusedActivation = { none: 0, relu: 1, relu6: 2 } as const;
export type FusedActivationName = keyof typeof FusedActivation;

/** binary's operation (elementwise.cc: Binary); min and max propagate NaN as tfjs does. */
export const BinaryOp = { add: 0, sub: 1, mul: 2, div: 3, min: 4, max: 5, addRelu: 6 } as const;
export type BinaryOp = (typeof BinaryOp)[keyof typeof BinaryOp];

// The addon reads each parameter record as a number array, its fields in this
// order (conv_param, pool_param and matmul_param in libs/native/src/gap_native.h).
export const CONV_PARAM_FIELDS = ["N", "H", "W", "Ci", "KH", "KW", "Co", "OH", "OW", "strideH", "strideW", "dilationH", "dilationW", "padTop", "padLeft", "padBottom", "padRight", "groups"] as const;
export const POOL_PARAM_FIELDS = ["N", "H", "W", "C", "OH", "OW", "KH", "KW", "strideH", "strideW", "padTop", "padLeft"] as const;
export const MATMUL_PARAM_FIELDS = ["batch", "M", "K", "N", "transposeA", "transposeB"] as const;
/** A conv in oneDNN terms: sizes, strides, dilations, explicit padding, groups (Ci: depthwise). */
export type ConvParams = Record<(typeof CONV_PARAM_FIELDS)[number], number>;
/** A max pool over NHWC: sizes, window, strides and the top/left padding. */
export type PoolParams = Record<(typeof POOL_PARAM_FIELDS)[number], number>;
/** A batched row-major matmul: [B, M, K] x [B, K, N], transposes as strides. */
export type MatMulParams = Record<(typeof MATMUL_PARAM_FIELDS)[number], number | boolean>;
const convArray = (p: ConvParams) => CONV_PARAM_FIELDS.map((field) => p[field]);
const poolArray = (p: PoolParams) => POOL_PARAM_FIELDS.map((field) => p[field]);
const matMulArray = (p: MatMulParams) => MATMUL_PARAM_FIELDS.map((field) => Number(p[field]));

/** The addon's own statement of the contract (info().contract), for the test that both sides agree. */
export type AddonContract = Record<"convDirection" | "activation" | "binaryOp", Record<string, number>> & Record<"convParams" | "poolParams" | "matMulParams", string[]>;

/** The addon's exports, as libs/native/src/module.cc lists them. */
interface RawAddon {
  conv2d(direction: ConvDirection, heap: ArrayBuffer, a: number, b: number, out: number, p: number[]): void;
  conv2dFused(heap: ArrayBuffer, x: number, w: number, scale: number, offset: number, mean: number, variance: number, eps: number, residual: number, y: number, p: number[], activation: number): void;
  foldFilter(heap: ArrayBuffer, w: number, scale: number, variance: number, eps: number, wFolded: number, wCount: number, Co: number): void;
  batchNormInference(heap: ArrayBuffer, x: number, mean: number, variance: number, scale: number, shift: number, y: number, n: number, h: number, w: number, c: number, eps: number, relu: 0 | 1, mask: number): void;
  batchNormTrain(heap: ArrayBuffer, x: number, scale: number, shift: number, y: number, mean: number, variance: number, n: number, h: number, w: number, c: number, eps: number, relu: 0 | 1): void;
  batchNormBackward(heap: ArrayBuffer, x: number, dy: number, mean: number, variance: number, scale: number, dx: number, dscale: number, dshift: number, n: number, h: number, w: number, c: number, eps: number, mask: number): void;
  slice4(heap: ArrayBuffer, x: number, y: number, shape: number[], begin: number[], size: number[]): void;
  pad4(heap: ArrayBuffer, x: number, y: number, shape: number[], before: number[], after: number[], value: number): void;
  concatRows(heap: ArrayBuffer, y: number, rows: number, count: number, xs: number[], widths: number[]): void;
  binary(op: BinaryOp, heap: ArrayBuffer, a: number, b: number, out: number, rows: number, c: number, aFull: 0 | 1, bFull: 0 | 1): void;
  reluGrad(heap: ArrayBuffer, dy: number, x: number, dx: number, n: number): void;
  relu6Grad(heap: ArrayBuffer, dy: number, x: number, dx: number, n: number): void;
  relu6OutputGrad(heap: ArrayBuffer, dy: number, y: number, dx: number, n: number): void;
  maxPool(heap: ArrayBuffer, x: number, y: number, p: number[]): void;
  maxPoolGrad(heap: ArrayBuffer, dy: number, x: number, dx: number, p: number[]): void;
  channelSum(heap: ArrayBuffer, x: number, out: number, outer: number, rows: number, c: number, divisor: number): void;
  matmul(heap: ArrayBuffer, a: number, b: number, c: number, p: number[]): void;
  dropout(heap: ArrayBuffer, x: number, y: number, n: number, rate: number, seed: number): void;
  fakeQuantize(heap: ArrayBuffer, x: number, y: number, n: number, scale: number, zeroPoint: number, qmin: number, qmax: number): void;
  sign(heap: ArrayBuffer, x: number, y: number, n: number): void;
  sgd(heap: ArrayBuffer, w: number, grad: number, buf: number, wOut: number, bufOut: number, n: number, lr: number, momentum: number, weightDecay: number, nesterov: 0 | 1): void;
  batchNormUpdate(heap: ArrayBuffer, runMean: number, runVar: number, mean: number, variance: number, runMeanOut: number, runVarOut: number, c: number, momentum: number): void;
  info(): { version: string; isa: string; threads: number; cached: number; winograd: number; conv3x3Calls: number; contract: AddonContract };
}

/** [N, H, W, C] of the tensor a batch-norm kernel reads (NHWC, or [N, C] as [N, 1, 1, C]). */
export type Nhwc = [number, number, number, number];
type Tensor = TensorInfo | null | undefined;

/**
 * One backend's view of the addon: tensors in, byte offsets out, every call
 * counted under its kernel's name. The kernels of this directory go through it.
 */
export class NativeCall {
  constructor(
    private readonly backend: BackendWasm,
    private readonly kernel: string,
  ) {
    count(kernel);
  }

  /** A new float32 (or given dtype) output on the wasm backend. */
  output(shape: readonly number[], dtype: "float32" | "int32" | "bool" = "float32"): TensorInfo {
    return this.backend.makeOutput([...shape], dtype);
  }

  // Re-read on every call: allocating outputs can grow (and replace) the heap.
  private get heap(): ArrayBuffer {
    return (this.backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
  }

  private at(t: Tensor): number {
    if (t == null) return -1;
    const data = this.backend.dataIdMap.get(t.dataId);
    if (data == null) throw new Error(`${this.kernel}: tensor data not found on the wasm backend`);
    return data.memoryOffset;
  }

  conv(direction: ConvDirection, a: TensorInfo, b: TensorInfo, out: TensorInfo, p: ConvParams): void {
    addon!.conv2d(direction, this.heap, this.at(a), this.at(b), this.at(out), convArray(p));
  }
  fusedConv(t: { x: TensorInfo; filter: TensorInfo; scale: TensorInfo; offset: TensorInfo; mean: TensorInfo; variance: TensorInfo; residual: Tensor }, eps: number, y: TensorInfo, p: ConvParams, activation: FusedActivationName): void {
    addon!.conv2dFused(this.heap, this.at(t.x), this.at(t.filter), this.at(t.scale), this.at(t.offset), this.at(t.mean), this.at(t.variance), eps, this.at(t.residual), this.at(y), convArray(p), FusedActivation[activation]);
  }
  /** The fused conv's filter * scale / sqrt(variance + eps) per output channel (the last axis), alone. */
  foldFilter(filter: TensorInfo, scale: TensorInfo, variance: TensorInfo, eps: number, folded: TensorInfo): void {
    addon!.foldFilter(this.heap, this.at(filter), this.at(scale), this.at(variance), eps, this.at(folded), util.sizeFromShape(filter.shape), scale.shape[0]!);
  }
  /** y = x * a + b per channel, a = scale / sqrt(variance + eps), b = shift - mean * a; relu: max(0, y); mask: x * step(mask) first. */
  batchNormInference(t: { x: TensorInfo; mean: Tensor; variance: TensorInfo; scale: Tensor; shift: Tensor; mask: Tensor }, y: TensorInfo, dims: Nhwc, eps: number, relu: boolean): void {
    addon!.batchNormInference(this.heap, this.at(t.x), this.at(t.mean), this.at(t.variance), this.at(t.scale), this.at(t.shift), this.at(y), ...dims, eps, relu ? 1 : 0, this.at(t.mask));
  }
  batchNormTrain(x: TensorInfo, scale: TensorInfo, shift: TensorInfo, out: { y: TensorInfo; mean: TensorInfo; variance: TensorInfo }, dims: Nhwc, eps: number, relu: boolean): void {
    addon!.batchNormTrain(this.heap, this.at(x), this.at(scale), this.at(shift), this.at(out.y), this.at(out.mean), this.at(out.variance), ...dims, eps, relu ? 1 : 0);
  }
  batchNormBackward(t: { x: TensorInfo; dy: TensorInfo; mean: TensorInfo; variance: TensorInfo; scale: TensorInfo; mask: Tensor }, out: { dx: TensorInfo; dscale: TensorInfo; dshift: TensorInfo }, dims: Nhwc, eps: number): void {
    addon!.batchNormBackward(this.heap, this.at(t.x), this.at(t.dy), this.at(t.mean), this.at(t.variance), this.at(t.scale), this.at(out.dx), this.at(out.dscale), this.at(out.dshift), ...dims, eps, this.at(t.mask));
  }
  batchNormUpdate(t: { runningMean: TensorInfo; runningVar: TensorInfo; mean: TensorInfo; variance: TensorInfo }, out: [TensorInfo, TensorInfo], momentum: number): void {
    addon!.batchNormUpdate(this.heap, this.at(t.runningMean), this.at(t.runningVar), this.at(t.mean), this.at(t.variance), this.at(out[0]), this.at(out[1]), t.runningMean.shape[0]!, momentum);
  }
  /** Rank-4 (padded with leading 1s) strided copy of 4-byte elements. */
  slice(x: TensorInfo, out: TensorInfo, shape: number[], begin: number[], size: number[]): void {
    addon!.slice4(this.heap, this.at(x), this.at(out), shape, begin, size);
  }
  pad(x: TensorInfo, out: TensorInfo, shape: number[], before: number[], after: number[], value: number): void {
    addon!.pad4(this.heap, this.at(x), this.at(out), shape, before, after, value);
  }
  /** Each of out's rows is the inputs' rows (widths[i] elements of xs[i]) one after another. */
  concatRows(xs: readonly TensorInfo[], out: TensorInfo, rows: number, widths: number[]): void {
    addon!.concatRows(this.heap, this.at(out), rows, xs.length, xs.map((x) => this.at(x)), widths);
  }
  /** out[r, c] = op(a, b); a (b) is [rows, c] when full, else [c] repeated per row. */
  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo, out: TensorInfo, rows: number, c: number, aFull: boolean, bFull: boolean): void {
    addon!.binary(op, this.heap, this.at(a), this.at(b), this.at(out), rows, c, aFull ? 1 : 0, bFull ? 1 : 0);
  }
  /** dy gated by x: ReLU's (dy * (x > 0)), ReLU6's (0 < x <= 6) or ReLU6's from its output (0 < y < 6). */
  gatedGrad(gate: "reluGrad" | "relu6Grad" | "relu6OutputGrad", dy: TensorInfo, x: TensorInfo, dx: TensorInfo, n: number): void {
    addon![gate](this.heap, this.at(dy), this.at(x), this.at(dx), n);
  }
  maxPool(x: TensorInfo, y: TensorInfo, p: PoolParams): void {
    addon!.maxPool(this.heap, this.at(x), this.at(y), poolArray(p));
  }
  maxPoolGrad(dy: TensorInfo, x: TensorInfo, dx: TensorInfo, p: PoolParams): void {
    addon!.maxPoolGrad(this.heap, this.at(dy), this.at(x), this.at(dx), poolArray(p));
  }
  /** out[o, c] = sum of x[o, r, c] over the rows, / divisor. */
  channelSum(x: TensorInfo, out: TensorInfo, { outer, rows, c, divisor }: { outer: number; rows: number; c: number; divisor: number }): void {
    addon!.channelSum(this.heap, this.at(x), this.at(out), outer, rows, c, divisor);
  }
  matmul(a: TensorInfo, b: TensorInfo, out: TensorInfo, p: MatMulParams): void {
    addon!.matmul(this.heap, this.at(a), this.at(b), this.at(out), matMulArray(p));
  }
  dropout(x: TensorInfo, y: TensorInfo, n: number, rate: number, seed: number): void {
    addon!.dropout(this.heap, this.at(x), this.at(y), n, rate, seed);
  }
  fakeQuantize(x: TensorInfo, y: TensorInfo, n: number, q: { scale: number; zeroPoint: number; qmin: number; qmax: number }): void {
    addon!.fakeQuantize(this.heap, this.at(x), this.at(y), n, q.scale, q.zeroPoint, q.qmin, q.qmax);
  }
  /** y = -1, 1 or 0 as x < 0, x > 0 or neither. */
  sign(x: TensorInfo, y: TensorInfo, n: number): void {
    addon!.sign(this.heap, this.at(x), this.at(y), n);
  }
  sgd(t: { param: TensorInfo; grad: TensorInfo; buffer: Tensor }, out: { param: TensorInfo; buffer: Tensor }, n: number, o: { lr: number; momentum: number; weightDecay: number; nesterov: boolean }): void {
    addon!.sgd(this.heap, this.at(t.param), this.at(t.grad), this.at(t.buffer), this.at(out.param), this.at(out.buffer), n, o.lr, o.momentum, o.weightDecay, o.nesterov ? 1 : 0);
  }
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

let addon: RawAddon | null | undefined;
let status: NativeStatus = { enabled: false, reason: "not loaded yet" };
/** Runtime switch (tests, kernel benchmarks): when false the wrappers call the previous kernel. */
let active = true;
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
    return path.resolve(here, "../../../../native/build/Release/gap_native.node");
  }
}

/** Loads the addon once; true when it loaded. */
export function loadAddon(): boolean {
  if (addon !== undefined) return addon != null;
  addon = null;
  const file = nativeAddonPath();
  if (/^(0|false|off|no)$/i.test((process.env["GAP_NATIVE"] ?? "").trim())) {
    status = { enabled: false, reason: "disabled by GAP_NATIVE=0" };
    return false;
  }
  if (!existsSync(file)) {
    status = { enabled: false, reason: `addon not built (${file} missing; needs libdnnl-dev, then npm run build -w @gap/native)` };
    return false;
  }
  try {
    // libgomp reads its settings when it loads: OMP_NUM_THREADS (set by the
    // local launcher and the Kubernetes manifests; default every core) and
    // GOMP_SPINCOUNT, how long OpenMP's worker threads spin after a parallel
    // loop before they sleep. libgomp's default (300000) spins long enough to
    // steal the core the single-threaded wasm code runs on;
    // sleeping at once (PASSIVE) pays a wake-up per loop. Interleaved runs
    // (ResNet20, batch 128): 10000 vs PASSIVE gave training 186 vs 195 ms,
    // evaluation 195 vs 203 ms per 512, PGD-10 1.15 vs 1.20 s (medians), and
    // 1000000 made training slower (210 ms).
    if (process.env["OMP_WAIT_POLICY"] == null) process.env["GOMP_SPINCOUNT"] ??= "10000";
    const loaded = createRequire(import.meta.url)(file) as RawAddon;
    const info = loaded.info();
    addon = loaded;
    status = { enabled: false, path: file, onednn: info.version, isa: info.isa, threads: info.threads };
  } catch (e) {
    status = { enabled: false, path: file, reason: `addon failed to load: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` };
  }
  return addon != null;
}

/** The loaded addon's contract, or null when it is not loaded. */
export function addonContract(): AddonContract | null {
  return loadAddon() ? addon!.info().contract : null;
}

/**
 * The conv primitives the addon has cached, how many of them run Winograd, and how many
 * convs ran on its own 3x3 kernel so far (src/conv3x3.cc); null when it is not loaded.
 */
export function convPrimitives(): { cached: number; winograd: number; conv3x3Calls: number } | null {
  if (!loadAddon()) return null;
  const { cached, winograd, conv3x3Calls } = addon!.info();
  return { cached, winograd, conv3x3Calls };
}

/** Marks the kernels registered (registerNativeKernels). */
export function markRegistered(kernels: string[]): void {
  status = { ...status, enabled: true, kernels };
  delete status.reason;
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
