/** Wrappers that fix or speed up a wasm kernel around the original. */
import { backend_util, util, type GatherV2Attrs, type KernelFunc, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { pair, windowGeometry, type Pair, type PadSpec, type Rounding } from "../padding.js";
import { compose, type KernelArgs } from "./compose.js";

/**
 * tfjs-backend-wasm 4.22's GatherV2 returns wrong values (and can read out of
 * bounds) when batchDims > 0, e.g. gather(logp, labels, 1, 1) for a
 * cross-entropy. Fixed by folding the batch axis into the gathered axis
 * (index + b * dimSize) so a plain batchDims-0 gather computes the same thing.
 */
export function gatherWithBatchDims(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const { x, indices } = args.inputs;
    const { axis, batchDims } = args.attrs as unknown as GatherV2Attrs;
    if (!batchDims) return original(args) as TensorInfo;
    const backend = args.backend as BackendWasm;
    const parsedAxis = util.parseAxisParam(axis, x!.shape)[0]!;
    const info = backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, parsedAxis, batchDims);
    const { batchSize, outerSize, dimSize, sliceSize } = info;
    const perBatch = util.sizeFromShape(indices!.shape) / batchSize;
    // Row of each index once batch and gathered axis are merged.
    const ids = backend.readSync(indices!.dataId) as Int32Array;
    const merged = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const idx = ids[i]!;
      if (idx < 0 || idx >= dimSize) throw new Error(`GatherV2: the index value ${idx} is not in [0, ${dimSize - 1}]`);
      merged[i] = idx + Math.floor(i / perBatch) * dimSize;
    }
    return compose(backend, (ops) => {
      const x4 = ops.reshape(x!, [batchSize, outerSize, dimSize, sliceSize]);
      const xm = ops.reshape(ops.transpose(x4, [1, 0, 2, 3]), [outerSize, batchSize * dimSize, sliceSize]);
      const idx = ops.adopt(backend.makeOutput([merged.length], "int32", undefined, merged));
      const g = ops.run("GatherV2", { x: xm, indices: idx }, { axis: 1, batchDims: 0 });
      const back = ops.transpose(ops.reshape(g, [outerSize, batchSize, perBatch, sliceSize]), [1, 0, 2, 3]);
      return ops.reshape(back, info.outputShape);
    });
  };
}

/**
 * The wasm conv and pool kernels hand XNNPACK the padding but let it derive
 * the output size itself, so with dimRoundingMode 'ceil' (or 'round') XNNPACK
 * produces fewer rows/cols than the output tfjs allocated: wrong values or
 * out-of-bounds reads. Fixed by turning the rounding into explicit extra
 * bottom/right padding that yields exactly the rounded output size (padding is
 * ignored by max pooling and not counted by average pooling, as on cpu).
 */
export function explicitRounding(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    // The attributes that size a window, as every conv and pool kernel names them.
    const attrs = args.attrs as unknown as { pad: PadSpec; dimRoundingMode?: Rounding; strides: number | Pair; dilations?: number | Pair; filterSize?: number | Pair; inputShape?: number[] };
    if (attrs.dimRoundingMode == null) return original(args) as TensorInfo;
    const { inputs } = args;
    const inShape = attrs.inputShape ?? (inputs.input ?? inputs.x)!.shape;
    const filter: Pair = attrs.filterSize == null ? [inputs.filter!.shape[0]!, inputs.filter!.shape[1]!] : pair(attrs.filterSize);
    const { pad } = windowGeometry(inShape, filter, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode);
    return original({ ...args, attrs: { ...args.attrs, pad, dimRoundingMode: undefined } as never }) as TensorInfo;
  };
}

/**
 * Identity, and Cast to the same dtype, share the input's memory (refcounted,
 * as the cpu backend does) instead of copying it: tensors are immutable, and
 * the wasm copies were ~9% of a PGD step (gradient bookkeeping, ReLU's grad).
 */
export function aliasSameDtype(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const dtype = (args.attrs as { dtype?: string } | undefined)?.dtype ?? x!.dtype;
    if (x!.dtype === "string" || dtype !== x!.dtype) return original(args);
    (args.backend as BackendWasm).incRef(x!.dataId);
    return { dataId: x!.dataId, shape: [...x!.shape], dtype: x!.dtype };
  };
}

/**
 * tfjs-backend-wasm 4.22's Sign flushes subnormals to 0 (sign(1e-45) = 0); tfjs's cpu
 * kernel and torch.sign give +-1. PGD steps along the sign of the loss gradient, whose
 * components can underflow to subnormals (a tiny softmax gradient): there wasm's sign left
 * pixels unmoved and the attack weaker. A linear pass over wasm memory, as the cpu kernel:
 * -1, 1, or 0 for +-0 and NaN. Other dtypes: the original.
 */
export function signKeepingSubnormals(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs;
    if (x!.dtype !== "float32") return original(args) as TensorInfo;
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput([...x!.shape], "float32");
    // Views after makeOutput: allocating can grow (and replace) the heap.
    const values = backend.typedArrayFromHeap(x!) as Float32Array;
    const signs = backend.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      signs[i] = v < 0 ? -1 : v > 0 ? 1 : 0;
    }
    return out;
  };
}
