/** Copies the wasm backend does slowly: strided Slice, PadV2, Concat, and SplitV through the native Slice. */
import { backend_util, getKernel, slice_util, util, type ConcatAttrs, type KernelFunc, type PadV2Attrs, type SliceAttrs, type SplitVAttrs, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { NativeCall, nativeKernelsActive, type KernelArgs } from "./addon.js";
import { toRank4 } from "./geometry.js";

/**
 * Slice of a 4-byte tensor of rank <= 4 that is not one contiguous run: the
 * wasm backend's generic strided copy took 12-50 ms for the ResNet shortcut's
 * [2048, 2, 16, 32] -> [2048, 1, 16, 32] (a quarter of a PGD step).
 */
export function nativeSlice(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    if (!nativeKernelsActive() || x!.shape.length > 4 || x!.shape.length === 0 || !["float32", "int32"].includes(x!.dtype)) return original(args);
    const { begin, size } = args.attrs as unknown as SliceAttrs;
    const [b, s] = slice_util.parseSliceParams(x as never, begin, size);
    // A contiguous slice is a cheap view/copy in the original; only strided ones come here.
    if (slice_util.isSliceContinous(x!.shape, b, s) || util.sizeFromShape(s) === 0) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, "Slice");
    const out = call.output(s, x!.dtype as "float32" | "int32");
    call.slice(x!, out, toRank4(x!.shape, 1), toRank4(b, 0), toRank4(s, 1));
    return out;
  };
}

/** PadV2 (constant padding) of a float32 tensor of rank 1-4. */
export function nativePad(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const { paddings, constantValue } = args.attrs as unknown as PadV2Attrs;
    const rank = x!.shape.length;
    if (!nativeKernelsActive() || x!.dtype !== "float32" || rank === 0 || rank > 4 || paddings.length !== rank) return original(args);
    if (paddings.some(([lo, hi]) => lo < 0 || hi < 0) || util.sizeFromShape(x!.shape) === 0) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, "PadV2");
    const out = call.output(x!.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]));
    call.pad(x!, out, toRank4(x!.shape, 1), toRank4(paddings.map((p) => p[0]), 0), toRank4(paddings.map((p) => p[1]), 0), constantValue);
    return out;
  };
}

/**
 * Concat of float32 or int32 tensors along any axis, as rows of [outer, inner]
 * views: the wasm kernel copies row by row in JS (0.7 ms per GoogLeNet
 * concatenation, 128x32x32 rows).
 */
export function nativeConcat(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const inputs = (args.inputs as unknown as TensorInfo[]).filter((t) => util.sizeFromShape(t.shape) > 0);
    const dtype = inputs[0]?.dtype;
    if (!nativeKernelsActive() || inputs.length < 2 || (dtype !== "float32" && dtype !== "int32") || inputs.some((t) => t.dtype !== dtype)) return original(args);
    const axis = util.parseAxisParam((args.attrs as unknown as ConcatAttrs).axis, inputs[0]!.shape)[0]!;
    backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    const outShape = backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    const call = new NativeCall(args.backend as BackendWasm, "Concat");
    const out = call.output(outShape, dtype);
    call.concatRows(inputs, out, util.sizeFromShape(outShape.slice(0, axis)), inputs.map((t) => util.sizeFromShape(t.shape.slice(axis))));
    return out;
  };
}

/**
 * SplitV (the concat gradient): the wasm kernel slices with its own slow strided
 * copy, bypassing the registered (native) Slice; this routes each piece through it.
 */
export function nativeSplitV(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const sliceKernel = getKernel("Slice", "wasm");
    if (!nativeKernelsActive() || sliceKernel == null) return original(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as SplitVAttrs;
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
