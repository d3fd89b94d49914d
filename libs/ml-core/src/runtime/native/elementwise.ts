/**
 * Elementwise passes: the float32 binary ops where wasm broadcasts slowly (or
 * same-shape ones from 2^18 elements), Sign, the residual add + ReLU, the ReLU and
 * ReLU6 gradients and fake quantization.
 */
import { util, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { sameShape } from "../padding.js";
import { BinaryOp, NativeCall, nativeKernelsActive, type KernelArgs } from "./addon.js";
import { NATIVE_ADD_RELU, NATIVE_FAKE_QUANTIZE } from "./kernel-names.js";

/** Elementwise kernels below this many elements stay on wasm (the call overhead wins). */
export const MIN_ELEMENTWISE = 16384;
/** Same-shape binary ops below this many elements stay on wasm (see binaryPlan). */
const SAME_SHAPE_MIN_ELEMENTS = 1 << 18;

type BinaryPlan = { outShape: number[]; rows: number; c: number; aFull: boolean; bFull: boolean };

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
    return { outShape: [...aShape], rows: an / c, c, aFull: true, bFull: true };
  }
  const perChannel = (full: readonly number[], small: readonly number[]) =>
    small.length >= 1 && small.length <= full.length && small[small.length - 1] === full[full.length - 1] && small.slice(0, -1).every((d) => d === 1);
  const aFull = an > bn;
  const [full, small] = aFull ? [aShape, bShape] : [bShape, aShape];
  if (!perChannel(full, small)) return null;
  const c = full[full.length - 1]!;
  return { outShape: [...full], rows: Math.max(an, bn) / c, c, aFull, bFull: !aFull };
}

/** The tfjs binary kernels the addon runs, by their operation. */
export const NATIVE_BINARY_KERNELS = { Add: BinaryOp.add, Sub: BinaryOp.sub, Multiply: BinaryOp.mul, RealDiv: BinaryOp.div, Minimum: BinaryOp.min, Maximum: BinaryOp.max } as const;

/** Add, Sub, Multiply, RealDiv, Minimum, Maximum on float32 where binaryPlan covers the shapes. */
export function nativeBinary(name: keyof typeof NATIVE_BINARY_KERNELS): (original: KernelFunc) => KernelFunc {
  return (original) => (args: KernelArgs) => {
    const { a, b } = args.inputs;
    if (!nativeKernelsActive() || a!.dtype !== "float32" || b!.dtype !== "float32") return original(args);
    const plan = binaryPlan(a!.shape, b!.shape);
    if (plan == null) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, name);
    const out = call.output(plan.outShape);
    call.binary(NATIVE_BINARY_KERNELS[name], a!, b!, out, plan.rows, plan.c, plan.aFull, plan.bFull);
    return out;
  };
}

/** Sign on float32 from MIN_ELEMENTWISE elements: -1, 1 or 0 (for +-0 and NaN), as tfjs's cpu kernel. */
export function nativeSign(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const n = util.sizeFromShape(x!.shape);
    if (!nativeKernelsActive() || x!.dtype !== "float32" || n < MIN_ELEMENTWISE) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, "Sign");
    const y = call.output(x!.shape);
    call.sign(x!, y, n);
    return y;
  };
}

/** GapAddRelu: inputs a, b (same shape, float32). Output relu(a + b); gradient in ../gradients.ts. */
export function addRelu(args: KernelArgs): TensorInfo {
  const { a, b } = args.inputs;
  if (!sameShape(a!.shape, b!.shape)) throw new Error(`${NATIVE_ADD_RELU}: shapes differ, [${a!.shape}] and [${b!.shape}]`);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_ADD_RELU);
  const out = call.output(a!.shape);
  const n = util.sizeFromShape(a!.shape);
  const c = a!.shape.length > 0 ? a!.shape[a!.shape.length - 1]! : 1;
  if (n > 0) call.binary(BinaryOp.addRelu, a!, b!, out, n / c, c, true, true);
  return out;
}

/**
 * GapReluGrad (dy * step(x)), GapRelu6Grad (dy * (0 < x <= 6)) and
 * GapRelu6OutputGrad (dy * (0 < y < 6)): inputs dy, x (same shape, float32); NaN
 * where x is NaN.
 */
export function gatedGrad(name: string, gate: "reluGrad" | "relu6Grad" | "relu6OutputGrad"): KernelFunc {
  return (args: KernelArgs) => {
    const { dy, x } = args.inputs;
    const call = new NativeCall(args.backend as BackendWasm, name);
    const dx = call.output(x!.shape);
    call.gatedGrad(gate, dy!, x!, dx, util.sizeFromShape(x!.shape));
    return dx;
  };
}

/** GapFakeQuantize: input x; attrs scale, zeroPoint, qmin, qmax. Output (clamp(round(x / scale) + zeroPoint, qmin, qmax) - zeroPoint) * scale, ties to even (../fused-ops.ts), the same bits as its tf ops; no gradient. */
export function fakeQuantize(args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  const q = args.attrs as unknown as { scale: number; zeroPoint: number; qmin: number; qmax: number };
  if (x!.dtype !== "float32") throw new Error(`${NATIVE_FAKE_QUANTIZE}: x must be float32`);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_FAKE_QUANTIZE);
  const y = call.output(x!.shape);
  call.fakeQuantize(x!, y, util.sizeFromShape(x!.shape), q);
  return y;
}
