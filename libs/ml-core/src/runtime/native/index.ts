/**
 * Optional native kernels for the wasm backend, on libs/native's oneDNN addon
 * (built by `npm ci`'s postinstall where libdnnl-dev is installed; the contract
 * is addon.ts). One file per kernel family, and the one registration list below:
 *
 * - over tfjs's wasm kernels, each falling back to the kernel it replaces for
 *   what it does not cover (NCHW, non-float32, padding oneDNN cannot express,
 *   small tensors): conv.ts (Conv2D, DepthwiseConv2dNative, their input and
 *   filter gradients), batch-norm.ts (FusedBatchNorm), pooling.ts (MaxPool,
 *   MaxPoolGrad), copies.ts (strided Slice, PadV2, Concat, SplitV), reductions.ts (Sum
 *   and Mean over a run of axes before the last, BatchMatMul), elementwise.ts (Add, Sub,
 *   Multiply, RealDiv, Minimum, Maximum with a per-channel operand or large
 *   same-shape ones; Sign from 16384 elements);
 * - kernels of our own (kernel-names.ts), which have no fallback: ../fused-ops.ts checks
 *   nativeApplies() first: batch-norm.ts (training forward and backward, BN + ReLU, the
 *   running statistics), conv.ts (conv with batch norm folded in), elementwise.ts (the
 *   residual add + ReLU, ReLU gradients, fake quantization), optimizer.ts (SGD), dropout.ts.
 */
import { getBackend, getKernel, registerKernel, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import { wrapWasmKernel } from "../wasm/index.js";
import { ConvDirection, loadAddon, markRegistered, nativeKernelsActive, nativeStatus, type NativeStatus } from "./addon.js";
import { batchNormGrad, batchNormInferenceGrad, batchNormRelu, batchNormTrain, batchNormUpdate, nativeFusedBatchNorm } from "./batch-norm.js";
import { foldFilter, fusedConv2D, nativeConv } from "./conv.js";
import { nativeConcat, nativePad, nativeSlice, nativeSplitV } from "./copies.js";
import { dropout } from "./dropout.js";
import { addRelu, fakeQuantize, gatedGrad, NATIVE_BINARY_KERNELS, nativeBinary, nativeSign } from "./elementwise.js";
import * as names from "./kernel-names.js";
import { nativeMaxPool, nativeMaxPoolGrad } from "./pooling.js";
import { sgd } from "./optimizer.js";
import { nativeBatchMatMul, nativeReduce } from "./reductions.js";

export { FusedActivation, addonContract, convPrimitives, BinaryOp, CONV_PARAM_FIELDS, ConvDirection, MATMUL_PARAM_FIELDS, POOL_PARAM_FIELDS, type AddonContract } from "./addon.js";
export { nativeAddonPath, nativeKernelCalls, nativeKernelsActive, nativeStatus, setNativeKernelsActive, type NativeStatus } from "./addon.js";
export { nativeConvFusable } from "./conv.js";
export * from "./kernel-names.js";

/** Whether our own kernels run these tensors: the wasm backend with native kernels on, float32 only (absent ones pass). */
export function nativeApplies(...tensors: Array<Pick<TensorInfo, "dtype"> | null | undefined>): boolean {
  return nativeKernelsActive() && getBackend() === "wasm" && tensors.every((t) => t == null || t.dtype === "float32");
}

type Wrap = (original: KernelFunc) => KernelFunc;

/** tfjs kernels replaced on wasm, each wrapping the kernel it replaces. */
const WRAPPED: ReadonlyArray<[string, Wrap]> = [
  ["Conv2D", nativeConv(ConvDirection.forward, false)],
  ["Conv2DBackpropInput", nativeConv(ConvDirection.inputGradient, false)],
  ["Conv2DBackpropFilter", nativeConv(ConvDirection.filterGradient, false)],
  ["DepthwiseConv2dNative", nativeConv(ConvDirection.forward, true)],
  ["DepthwiseConv2dNativeBackpropInput", nativeConv(ConvDirection.inputGradient, true)],
  ["DepthwiseConv2dNativeBackpropFilter", nativeConv(ConvDirection.filterGradient, true)],
  ["FusedBatchNorm", nativeFusedBatchNorm],
  ["Slice", nativeSlice],
  ["PadV2", nativePad],
  ["MaxPool", nativeMaxPool],
  ["MaxPoolGrad", nativeMaxPoolGrad],
  ["Concat", nativeConcat],
  ["SplitV", nativeSplitV],
  ["Sum", nativeReduce("Sum")],
  ["Mean", nativeReduce("Mean")],
  ["BatchMatMul", nativeBatchMatMul],
  ...Object.keys(NATIVE_BINARY_KERNELS).map((name): [string, Wrap] => [name, nativeBinary(name as keyof typeof NATIVE_BINARY_KERNELS)]),
  ["Sign", nativeSign],
];

/** Kernels of our own. */
const OWN: ReadonlyArray<[string, KernelFunc]> = [
  [names.NATIVE_BN_TRAIN, batchNormTrain],
  [names.NATIVE_BN_GRAD, batchNormGrad],
  [names.NATIVE_BN_INFERENCE_GRAD, batchNormInferenceGrad],
  [names.NATIVE_BN_RELU, batchNormRelu],
  [names.NATIVE_BN_UPDATE, batchNormUpdate],
  [names.NATIVE_CONV_FUSED, fusedConv2D],
  [names.NATIVE_FOLD_FILTER, foldFilter],
  [names.NATIVE_ADD_RELU, addRelu],
  [names.NATIVE_RELU_GRAD, gatedGrad(names.NATIVE_RELU_GRAD, "reluGrad")],
  [names.NATIVE_RELU6_GRAD, gatedGrad(names.NATIVE_RELU6_GRAD, "relu6Grad")],
  [names.NATIVE_RELU6_OUTPUT_GRAD, gatedGrad(names.NATIVE_RELU6_OUTPUT_GRAD, "relu6OutputGrad")],
  [names.NATIVE_DROPOUT, dropout],
  [names.NATIVE_FAKE_QUANTIZE, fakeQuantize],
  [names.NATIVE_SGD, sgd],
];

// This layer's wrappers: a kernel the wasm fixes wrapped is wrapped again here, once.
const ours = new WeakSet<KernelFunc>();

/**
 * Loads the addon (once) and registers its kernels over the current wasm
 * kernels; idempotent. Call after the wasm backend's own kernels and the
 * fixes of ../wasm/ are registered. Returns the status.
 */
export function registerNativeKernels(): NativeStatus {
  if (!loadAddon()) return nativeStatus();
  const kernels: string[] = [];
  for (const [name, wrap] of WRAPPED) {
    if (getKernel(name, "wasm") == null) continue;
    wrapWasmKernel(name, wrap, ours);
    kernels.push(name);
  }
  for (const [kernelName, kernelFunc] of OWN) {
    if (getKernel(kernelName, "wasm") == null) registerKernel({ kernelName, backendName: "wasm", kernelFunc });
    kernels.push(kernelName);
  }
  markRegistered(kernels);
  return nativeStatus();
}
