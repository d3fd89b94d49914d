/** Sums and means over a run of axes before the last, and matrix products, on the addon's threads. */
import { util, type BatchMatMulAttrs, type KernelFunc, type SumAttrs } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { NativeCall, nativeKernelsActive, type KernelArgs } from "./addon.js";
import { MIN_ELEMENTWISE } from "./elementwise.js";
import { reductionAxes } from "../padding.js";

/** Matmuls below this many multiply-adds stay on wasm (a classifier's [128, 64] x [64, 10]). */
const MIN_MATMUL_MACS = 1 << 20;

/**
 * Sum or Mean of a float32 tensor over a run of axes before the last, in one threaded
 * pass accumulating in double: over every axis but the last (a bias's or a per-channel
 * scale's gradient) and over [1, 2] of NHWC (global average pooling). The wasm kernels
 * transpose first (Sum ~8 ms for [128, 32, 32, 64], Mean 0.9 ms for [128, 8, 8, 64]).
 * Anything else: the original.
 */
export function nativeReduce(kind: "Sum" | "Mean"): (original: KernelFunc) => KernelFunc {
  return (original) => (args: KernelArgs) => {
    const { x } = args.inputs;
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const shape = x!.shape;
    const rank = shape.length;
    if (!nativeKernelsActive() || x!.dtype !== "float32" || rank < 2 || util.sizeFromShape(shape) < MIN_ELEMENTWISE) return original(args);
    const { axes, run } = reductionAxes(shape, axis);
    if (run == null || run.last >= rank - 1) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, kind);
    const out = call.output(keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i)));
    call.channelSum(x!, out, { outer: run.outer, rows: run.reduced, c: run.inner, divisor: kind === "Mean" ? run.reduced : 1 });
    return out;
  };
}

/**
 * BatchMatMul of rank-2 or rank-3 float32 tensors with equal batch sizes, transposes as
 * strides, on oneDNN (both threads); the wasm kernel took 6-14 ms per
 * [128, 512] x [512, 512] product and its transposed forms in vgg_bn_drop's classifier.
 */
export function nativeBatchMatMul(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    const rank = a!.shape.length;
    if (!nativeKernelsActive() || a!.dtype !== "float32" || b!.dtype !== "float32" || (rank !== 2 && rank !== 3) || b!.shape.length !== rank) return original(args);
    // Rank 2 (tf.matMul of matrices reaches the kernel as is) is a batch of one.
    const [batch, a1, a2] = (rank === 2 ? [1, ...a!.shape] : a!.shape) as [number, number, number];
    const [batchB, b1, b2] = (rank === 2 ? [1, ...b!.shape] : b!.shape) as [number, number, number];
    const [M, K] = transposeA ? [a2, a1] : [a1, a2];
    const [kb, N] = transposeB ? [b2, b1] : [b1, b2];
    if (batch !== batchB || K !== kb || batch * M * K * N < MIN_MATMUL_MACS) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, "BatchMatMul");
    const out = call.output(rank === 2 ? [M, N] : [batch, M, N]);
    call.matmul(a!, b!, out, { batch, M, K, N, transposeA, transposeB });
    return out;
  };
}
