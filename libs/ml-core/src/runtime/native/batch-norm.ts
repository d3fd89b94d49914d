/**
 * Batch norm as threaded passes of the addon (plain OpenMP loops, not oneDNN):
 * FusedBatchNorm (inference), and our own kernels for training mode, the fused
 * ReLU, the inference gradient and the running statistics' update.
 */
import { util, type FusedBatchNormAttrs, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { NativeCall, nativeKernelsActive, type KernelArgs, type Nhwc } from "./addon.js";
import { nhwc } from "./geometry.js";
import { NATIVE_BN_GRAD, NATIVE_BN_INFERENCE_GRAD, NATIVE_BN_RELU, NATIVE_BN_TRAIN, NATIVE_BN_UPDATE } from "./kernel-names.js";

function dimsOf(kernel: string, shape: readonly number[]): Nhwc {
  const dims = nhwc(shape);
  if (dims == null) throw new Error(`${kernel}: input must be rank 2 or 4, got [${shape}]`);
  return dims;
}

/** FusedBatchNorm (inference, given mean and variance) as one pass; anything but float32 per-channel statistics: the original. */
export function nativeFusedBatchNorm(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x, mean, variance, offset, scale } = args.inputs;
    if (!nativeKernelsActive()) return original(args);
    const dims = nhwc(x!.shape);
    if (dims == null || util.sizeFromShape(x!.shape) === 0) return original(args);
    const perChannel = (t: TensorInfo | undefined) => t == null || (t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === dims[3]);
    if (x!.dtype !== "float32" || !perChannel(mean) || !perChannel(variance) || !perChannel(offset) || !perChannel(scale)) return original(args);
    const { varianceEpsilon } = args.attrs as unknown as FusedBatchNormAttrs;
    const call = new NativeCall(args.backend as BackendWasm, "FusedBatchNorm");
    const y = call.output(x!.shape);
    call.batchNormInference({ x: x!, mean, variance: variance!, scale, shift: offset, mask: null }, y, dims, varianceEpsilon, false);
    return y;
  };
}

/**
 * GapBatchNormRelu: relu(FusedBatchNorm(x)) (inference) in one pass. Inputs and
 * attrs as FusedBatchNorm (all per-channel float32 of an NHWC or [N, C] x: the
 * caller checks, see ../fused-ops.ts).
 */
export function batchNormRelu(args: KernelArgs): TensorInfo {
  const { x, mean, variance, offset, scale } = args.inputs;
  const { varianceEpsilon } = args.attrs as unknown as FusedBatchNormAttrs;
  const dims = dimsOf(NATIVE_BN_RELU, x!.shape);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_BN_RELU);
  const y = call.output(x!.shape);
  call.batchNormInference({ x: x!, mean, variance: variance!, scale, shift: offset, mask: null }, y, dims, varianceEpsilon, true);
  return y;
}

/**
 * GapBatchNormInferenceGrad: inputs dy, variance, scale (optional), mask
 * (optional: GapBatchNormRelu's output y; dy * step(y) is used); attrs eps. Output dx.
 */
export function batchNormInferenceGrad(args: KernelArgs): TensorInfo {
  const { dy, variance, scale, mask } = args.inputs;
  const { eps } = args.attrs as unknown as { eps: number };
  const dims = dimsOf(NATIVE_BN_INFERENCE_GRAD, dy!.shape);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_BN_INFERENCE_GRAD);
  const dx = call.output(dy!.shape);
  // Inference batch norm of dy with mean 0 and no offset is exactly dy * scale / sqrt(var + eps).
  call.batchNormInference({ x: dy!, mean: null, variance: variance!, scale, shift: null, mask }, dx, dims, eps, false);
  return dx;
}

/**
 * GapBatchNormTrain: inputs x, scale, offset; attrs eps, relu (optional: y =
 * max(0, bn(x))). Outputs y, batch mean, biased batch variance.
 */
export function batchNormTrain(args: KernelArgs): TensorInfo[] {
  const { x, scale, offset } = args.inputs;
  const { eps, relu } = args.attrs as unknown as { eps: number; relu?: boolean };
  const dims = dimsOf(NATIVE_BN_TRAIN, x!.shape);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_BN_TRAIN);
  const out = { y: call.output(x!.shape), mean: call.output([dims[3]]), variance: call.output([dims[3]]) };
  call.batchNormTrain(x!, scale!, offset!, out, dims, eps, relu === true);
  return [out.y, out.mean, out.variance];
}

/**
 * GapBatchNormGrad: inputs x, dy, mean, variance (biased, from the forward),
 * scale, mask (optional: the fused ReLU's output y; dy * step(y) is used);
 * attrs eps. Outputs dx, dscale, doffset (the full batch-norm backward,
 * including the paths through the batch statistics).
 */
export function batchNormGrad(args: KernelArgs): TensorInfo[] {
  const { x, dy, mean, variance, scale, mask } = args.inputs;
  const { eps } = args.attrs as unknown as { eps: number };
  const dims = dimsOf(NATIVE_BN_GRAD, x!.shape);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_BN_GRAD);
  const out = { dx: call.output(x!.shape), dscale: call.output([dims[3]]), dshift: call.output([dims[3]]) };
  call.batchNormBackward({ x: x!, dy: dy!, mean: mean!, variance: variance!, scale: scale!, mask }, out, dims, eps);
  return [out.dx, out.dscale, out.dshift];
}

/**
 * GapBatchNormUpdate: inputs runningMean, runningVar, mean, variance (float32 [C]); attr
 * momentum. Outputs running * (1 - momentum) + batch * momentum for both (bit for bit the tf ops).
 */
export function batchNormUpdate(args: KernelArgs): TensorInfo[] {
  const { runningMean, runningVar, mean, variance } = args.inputs;
  const { momentum } = args.attrs as unknown as { momentum: number };
  const c = runningMean!.shape[0]!;
  if ([runningMean, runningVar, mean, variance].some((t) => t!.dtype !== "float32" || t!.shape.length !== 1 || t!.shape[0] !== c)) {
    throw new Error(`${NATIVE_BN_UPDATE}: inputs must all be float32 [C]`);
  }
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_BN_UPDATE);
  const out: [TensorInfo, TensorInfo] = [call.output([c]), call.output([c])];
  call.batchNormUpdate({ runningMean: runningMean!, runningVar: runningVar!, mean: mean!, variance: variance! }, out, momentum);
  return out;
}
