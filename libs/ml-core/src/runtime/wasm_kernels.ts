/**
 * wasm kernels for CNN training that @tensorflow/tfjs-backend-wasm 4.22 lacks
 * (conv/depthwise filter and input gradients, UnsortedSegmentSum) or gets
 * wrong (GatherV2 with batchDims, rounding modes in conv/pool, MaxPoolGrad),
 * plus a faster stride-1 Conv2DBackpropInput.
 *
 * They are composed from the wasm backend's own kernels (XNNPACK convolutions,
 * transposes, slices, reductions), so the work stays in WebAssembly and never
 * falls back to the pure-JS cpu backend; the scatter steps of MaxPoolGrad and
 * UnsortedSegmentSum are linear JS passes over wasm memory.
 */
import {
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { windowGeometry, type PadSpec, type Rounding } from "./padding.js";

type KernelArgs = Parameters<KernelFunc>[0];
type Pair = [number, number];

/**
 * Runs other wasm kernels and frees every intermediate result when done,
 * so a composed kernel leaves exactly one new data id behind (its output).
 */
class WasmOps {
  private readonly temps: TensorInfo[] = [];
  constructor(readonly backend: BackendWasm) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(kernelName, "wasm");
    if (kernel == null) throw new Error(`wasm kernel '${kernelName}' is not registered`);
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run("Reshape", { x }, { shape });
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run("Transpose", { x }, { perm });
  }
  pad(x: TensorInfo, paddings: Pair[], constantValue = 0): TensorInfo {
    return this.run("PadV2", { x }, { paddings, constantValue });
  }
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run("Slice", { x }, { begin, size });
  }
  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run("Sum", { x }, { axis, keepDims: false });
  }

  /** Tracks a tensor made outside `run` so it is freed with the temporaries. */
  adopt(t: TensorInfo): TensorInfo {
    this.temps.push(t);
    return t;
  }

  /** Detaches `result` from the temporaries and frees the rest. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.temps) {
      if (t !== result) this.backend.disposeData(t.dataId);
    }
    return result;
  }

  /** Frees all temporaries (on error paths). */
  disposeAll(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
  }
}

function compose(backend: BackendWasm, body: (ops: WasmOps) => TensorInfo): TensorInfo {
  const ops = new WasmOps(backend);
  try {
    return ops.finish(body(ops));
  } catch (e) {
    ops.disposeAll();
    throw e;
  }
}

/**
 * Conv2DBackpropFilter: dW[kh,kw,ci,co] = sum_{b,oh,ow} xpad[b, oh*s+kh, ow*s+kw, ci] * dy[b,oh,ow,co].
 *
 * That sum is itself a convolution: with the batch moved into the channel axis,
 * x^T = [Ci, H, W, B] convolved (stride 1, dilation s) with dy^T = [OH, OW, B, Co]
 * as the filter gives [Ci, KH, KW, Co]. One XNNPACK conv does the whole
 * reduction; measured ~7x faster than per-tap matmuls on wasm.
 */
function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as {
    strides: number | Pair;
    pad: PadSpec;
    dataFormat: "NHWC" | "NCHW";
    dimRoundingMode?: Rounding | undefined;
    filterShape: [number, number, number, number];
  };
  if (attrs.dataFormat === "NCHW") {
    throw new Error("wasm Conv2DBackpropFilter supports only dataFormat 'NHWC'");
  }
  const xShape = x!.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    xShape,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const [B, H, W, Ci] = xShape;
  const [KH, KW] = attrs.filterShape;
  const window = filterGradientWindow(info, H, W, KH, KW);
  assertShape("Conv2DBackpropFilter", "dy", dy!.shape, [B, info.outHeight, info.outWidth, attrs.filterShape[3]]);

  return compose(args.backend as BackendWasm, (ops) => {
    let xT = ops.transpose(x!, [3, 1, 2, 0]); // [Ci, H, W, B]
    if (window.cropped) xT = ops.slice(xT, [0, 0, 0, 0], [Ci, window.height, window.width, B]);
    const dyT = ops.transpose(dy!, [1, 2, 0, 3]); // [OH, OW, B, Co]
    const out = ops.run("Conv2D", { x: xT, filter: dyT }, window.convAttrs); // [Ci, KH, KW, Co]
    return ops.transpose(out, [1, 2, 0, 3]);
  });
}

/**
 * What a filter gradient correlates: x cropped to the rows/cols the forward
 * conv read (trailing ones it never reached are dropped), padded as in the
 * forward, against dy as a filter dilated by the stride (stride-1 conv attrs).
 */
function filterGradientWindow(info: backend_util.Conv2DInfo, H: number, W: number, KH: number, KW: number) {
  const { top, left } = info.padInfo;
  // Negative: trailing rows (cols) of x were never read.
  const bottom = (info.outHeight - 1) * info.strideHeight + KH - top - H;
  const right = (info.outWidth - 1) * info.strideWidth + KW - left - W;
  const pad: backend_util.ExplicitPadding = [
    [0, 0],
    [top, Math.max(bottom, 0)],
    [left, Math.max(right, 0)],
    [0, 0],
  ];
  return {
    cropped: bottom < 0 || right < 0,
    height: H + Math.min(bottom, 0),
    width: W + Math.min(right, 0),
    convAttrs: { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [info.strideHeight, info.strideWidth] } as NamedAttrMap,
  };
}

/** A dy that does not match the forward output would make XNNPACK read out of bounds. */
function assertShape(kernel: string, what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new Error(`wasm ${kernel}: ${what} has shape [${actual}], expected [${expected}] for these attributes`);
  }
}

function assertNoDilation(kernel: string, dilations: number | Pair | undefined): void {
  const [dh, dw] = typeof dilations === "number" ? [dilations, dilations] : (dilations ?? [1, 1]);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`wasm ${kernel} supports only dilation 1, got [${dh}, ${dw}]`);
  }
}

/**
 * DepthwiseConv2dNativeBackpropFilter:
 * dW[kh,kw,c,m] = sum_{b,oh,ow} xpad[b, oh*s+kh, ow*s+kw, c] * dy[b,oh,ow,c*M+m].
 *
 * Treating every (b, c) pair as one channel turns the sum over (oh, ow) into a
 * depthwise conv of x^T = [1, H, W, B*C] with dy^T = [OH, OW, B*C, 1] as the
 * filter (dilation s); the remaining sum over b is a reduction. For M > 1 the
 * x channel is repeated M times so each (b, c, m) gets its own lane.
 */
function depthwiseConv2dNativeBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as {
    strides: number | Pair;
    dilations: number | Pair;
    pad: PadSpec;
    dimRoundingMode?: Rounding | undefined;
    filterShape: [number, number, number, number];
  };
  assertNoDilation("DepthwiseConv2dNativeBackpropFilter", attrs.dilations);
  const xShape = x!.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    xShape,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const [B, H, W, C] = xShape;
  const [KH, KW, , M] = attrs.filterShape;
  const { outHeight: OH, outWidth: OW } = info;
  const window = filterGradientWindow(info, H, W, KH, KW);
  assertShape("DepthwiseConv2dNativeBackpropFilter", "dy", dy!.shape, [B, OH, OW, C * M]);

  return compose(args.backend as BackendWasm, (ops) => {
    let xs = x!;
    if (window.cropped) xs = ops.slice(xs, [0, 0, 0, 0], [B, window.height, window.width, C]);
    const h = xs.shape[1]!;
    const w = xs.shape[2]!;
    if (M > 1) {
      // [B, h, w, C] -> [B, h, w, C, M] by repeating each channel M times.
      xs = ops.run("Tile", { x: ops.reshape(xs, [B, h, w, C, 1]) }, { reps: [1, 1, 1, 1, M] });
    }
    const lanes = B * C * M;
    const xT = ops.reshape(ops.transpose(ops.reshape(xs, [B, h, w, C * M]), [1, 2, 0, 3]), [1, h, w, lanes]);
    const dyT = ops.reshape(ops.transpose(dy!, [1, 2, 0, 3]), [OH, OW, lanes, 1]);
    const out = ops.run("DepthwiseConv2dNative", { x: xT, filter: dyT }, window.convAttrs); // [1, KH, KW, B*C*M]
    const perBatch = ops.reshape(out, [KH, KW, B, C * M]);
    return ops.reshape(ops.sum(perBatch, [2]), [KH, KW, C, M]);
  });
}

/**
 * DepthwiseConv2dNativeBackpropInput: the transposed depthwise conv.
 * dy is dilated by the stride (zeros in between), padded by KH-1-top, and
 * correlated with the 180-degree rotated filter at stride 1; for M > 1 the
 * M output lanes of each input channel are summed.
 */
function depthwiseConv2dNativeBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as unknown as {
    strides: number | Pair;
    dilations: number | Pair;
    pad: PadSpec;
    dimRoundingMode?: Rounding | undefined;
    inputShape: [number, number, number, number];
  };
  assertNoDilation("DepthwiseConv2dNativeBackpropInput", attrs.dilations);
  const filterShape = filter!.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const [B, H, W, C] = attrs.inputShape;
  const [KH, KW, , M] = filterShape;
  const { strideHeight: sH, strideWidth: sW, outHeight: OH, outWidth: OW } = info;
  assertShape("DepthwiseConv2dNativeBackpropInput", "dy", dy!.shape, [B, OH, OW, C * M]);

  return compose(args.backend as BackendWasm, (ops) => {
    let g = dy!; // [B, OH, OW, C*M]
    let gh = OH;
    let gw = OW;
    if (sH > 1 || sW > 1) {
      // Interleave zeros: [B, OH, 1, OW, 1, CM] padded to [B, OH, sH, OW, sW, CM].
      const dil = ops.pad(ops.reshape(g, [B, OH, 1, OW, 1, C * M]), [
        [0, 0],
        [0, 0],
        [0, sH - 1],
        [0, 0],
        [0, sW - 1],
        [0, 0],
      ]);
      gh = OH * sH;
      gw = OW * sW;
      g = ops.reshape(dil, [B, gh, gw, C * M]);
    }
    // Full-correlation padding; a negative amount means rows to drop instead.
    const padTop = KH - 1 - info.padInfo.top;
    const padLeft = KW - 1 - info.padInfo.left;
    const padBottom = H + KH - 1 - padTop - gh;
    const padRight = W + KW - 1 - padLeft - gw;
    if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
      const r0 = Math.max(-padTop, 0);
      const c0 = Math.max(-padLeft, 0);
      const r1 = gh + Math.min(padBottom, 0);
      const c1 = gw + Math.min(padRight, 0);
      g = ops.slice(g, [0, r0, c0, 0], [B, r1 - r0, c1 - c0, C * M]);
    }
    const rotated = ops.reshape(ops.run("Reverse", { x: filter! }, { dims: [0, 1] }), [KH, KW, C * M, 1]);
    const out = ops.run(
      "DepthwiseConv2dNative",
      { x: g, filter: rotated },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [Math.max(padTop, 0), Math.max(padBottom, 0)],
          [Math.max(padLeft, 0), Math.max(padRight, 0)],
          [0, 0],
        ],
        dataFormat: "NHWC",
        dilations: [1, 1],
      },
    ); // [B, H, W, C*M]
    if (M === 1) return out;
    return ops.sum(ops.reshape(out, [B, H, W, C, M]), [4]);
  });
}

/**
 * Conv2DBackpropInput at stride 1 as one XNNPACK conv: dx is dy correlated
 * with the filter rotated by 180 degrees and with in/out channels swapped,
 * padded by KH-1-top (negative amounts crop dy instead). The wasm backend's own
 * kernel is a plain loop, measured ~8x slower than its conv at CIFAR sizes;
 * strided cases still go to it (rare in these nets: dy would need dilating).
 */
function conv2DBackpropInputStride1(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const attrs = args.attrs as unknown as {
      strides: number | Pair;
      pad: PadSpec;
      dataFormat: "NHWC" | "NCHW";
      dimRoundingMode?: Rounding | undefined;
      inputShape: [number, number, number, number];
    };
    const [sH, sW] = typeof attrs.strides === "number" ? [attrs.strides, attrs.strides] : attrs.strides;
    if (sH !== 1 || sW !== 1 || attrs.dataFormat === "NCHW") return original(args) as TensorInfo;
    const { dy, filter } = args.inputs;
    const [B, H, W] = attrs.inputShape;
    const [KH, KW, , Co] = filter!.shape as [number, number, number, number];
    const g = windowGeometry(attrs.inputShape, [KH, KW], 1, 1, attrs.pad, attrs.dimRoundingMode);
    const { outHeight: OH, outWidth: OW } = g;
    assertShape("Conv2DBackpropInput", "dy", dy!.shape, [B, OH, OW, Co]);
    const padTop = KH - 1 - g.pad[1][0];
    const padLeft = KW - 1 - g.pad[2][0];
    const padBottom = H + KH - 1 - padTop - OH;
    const padRight = W + KW - 1 - padLeft - OW;
    return compose(args.backend as BackendWasm, (ops) => {
      let d = dy!;
      if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
        const r0 = Math.max(-padTop, 0);
        const c0 = Math.max(-padLeft, 0);
        d = ops.slice(d, [0, r0, c0, 0], [B, OH + Math.min(padBottom, 0) - r0, OW + Math.min(padRight, 0) - c0, Co]);
      }
      const rotated = ops.transpose(ops.run("Reverse", { x: filter! }, { dims: [0, 1] }), [0, 1, 3, 2]);
      return ops.run(
        "Conv2D",
        { x: d, filter: rotated },
        {
          strides: [1, 1],
          pad: [
            [0, 0],
            [Math.max(padTop, 0), Math.max(padBottom, 0)],
            [Math.max(padLeft, 0), Math.max(padRight, 0)],
            [0, 0],
          ],
          dataFormat: "NHWC",
          dilations: [1, 1],
        },
      ); // [B, H, W, Ci]
    });
  };
}

/**
 * UnsortedSegmentSum (the gradient of gather): out[s, ...] = sum of x[i, ...]
 * over i with segmentIds[i] == s; ids outside [0, numSegments) are dropped as
 * in TensorFlow. A linear JS pass over wasm memory; inputs here are small
 * (class logits), so a wasm round trip would cost more than it saves.
 */
function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs;
  const { numSegments } = args.attrs as unknown as { numSegments: number };
  const ids = backend.readSync(segmentIds!.dataId) as Int32Array | Float32Array;
  const values = backend.readSync(x!.dataId) as Float32Array | Int32Array;
  const idShape = segmentIds!.shape;
  const inner = util.sizeFromShape(x!.shape.slice(idShape.length));
  const outShape = [numSegments, ...x!.shape.slice(idShape.length)];
  const out = x!.dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j]! += values[src + j]!;
  }
  return backend.makeOutput(outShape, x!.dtype, undefined, out);
}

/**
 * MaxPoolGrad. The wasm backend's own kernel routes gradients wrongly once
 * inputs are negative (seen with batch > 1 and with padding), so it is
 * replaced. Each output's window argmax is found, with ties going to the
 * first position in row-major order as on cpu, and dy is added there.
 *
 * Stride 1 (every input is in up to K*K windows): the argmax is computed
 * with wasm kernels on shifted 4-D slices of the -inf padded input.
 * Stride > 1: a direct JS scan over wasm memory is cheaper than wasm's slow
 * strided-slice kernel, as there are s*s times fewer windows.
 */
function maxPoolGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs;
  const attrs = args.attrs as unknown as {
    filterSize: number | Pair;
    strides: number | Pair;
    pad: PadSpec;
    dimRoundingMode?: Rounding | undefined;
  };
  const filter: Pair = typeof attrs.filterSize === "number" ? [attrs.filterSize, attrs.filterSize] : attrs.filterSize;
  const [B, H, W, C] = input!.shape as [number, number, number, number];
  const g = windowGeometry(input!.shape, filter, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { outHeight: OH, outWidth: OW, strideHeight: sH, strideWidth: sW } = g;
  const [KH, KW] = filter;
  assertShape("MaxPoolGrad", "dy", dy!.shape, [B, OH, OW, C]);
  const top = g.pad[1][0];
  const left = g.pad[2][0];

  // Winning tap (kh * KW + kw) per output element, stride-1 case only.
  const winner =
    sH === 1 && sW === 1
      ? compose(backend, (ops) => {
          const padded = g.pad.some(([a, b]) => a !== 0 || b !== 0);
          const xp = padded ? ops.pad(input!, g.pad, -Infinity) : input!;
          let best: TensorInfo | undefined;
          let bestTap: TensorInfo | undefined;
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) {
              const tap = ops.slice(xp, [0, kh, kw, 0], [B, OH, OW, C]);
              const index = ops.run("Fill", {}, { shape: [B, OH, OW, C], value: kh * KW + kw, dtype: "float32" });
              if (best == null || bestTap == null) {
                best = tap;
                bestTap = index;
                continue;
              }
              const better = ops.run("Greater", { a: tap, b: best });
              best = ops.run("Select", { condition: better, t: tap, e: best });
              bestTap = ops.run("Select", { condition: better, t: index, e: bestTap });
            }
          }
          return bestTap!;
        })
      : undefined;

  // Allocate before taking heap views: an allocation may grow (and detach) the heap.
  const out = backend.makeOutput([B, H, W, C], "float32");
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  const grads = backend.typedArrayFromHeap(dy!) as Float32Array;
  const x = backend.typedArrayFromHeap(input!) as Float32Array;
  const taps = winner == null ? undefined : (backend.typedArrayFromHeap(winner) as Float32Array);
  dx.fill(0);
  let i = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const h0 = oh * sH - top;
        const w0 = ow * sW - left;
        for (let c = 0; c < C; c++, i++) {
          let at = -1;
          if (taps != null) {
            const t = taps[i]!;
            const h = h0 + Math.floor(t / KW);
            const w = w0 + (t % KW);
            if (h >= 0 && h < H && w >= 0 && w < W) at = ((b * H + h) * W + w) * C + c;
          } else {
            let best = -Infinity;
            for (let kh = 0; kh < KH; kh++) {
              const h = h0 + kh;
              if (h < 0 || h >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const w = w0 + kw;
                if (w < 0 || w >= W) continue;
                const k = ((b * H + h) * W + w) * C + c;
                if (at < 0 || x[k]! > best) {
                  best = x[k]!;
                  at = k;
                }
              }
            }
          }
          if (at >= 0) dx[at]! += grads[i]!;
        }
      }
    }
  }
  if (winner != null) backend.disposeData(winner.dataId);
  return out;
}

/**
 * tfjs-backend-wasm 4.22's GatherV2 returns wrong values (and can read out of
 * bounds) when batchDims > 0, e.g. gather(logp, labels, 1, 1) for a
 * cross-entropy. Fixed by folding the batch axis into the gathered axis
 * (index + b * dimSize) so a plain batchDims-0 gather computes the same thing.
 */
function gatherWithBatchDims(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const { x, indices } = args.inputs;
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (!batchDims) return original(args) as TensorInfo;
    const backend = args.backend as BackendWasm;
    const parsedAxis = util.parseAxisParam(axis, x!.shape)[0]!;
    const info = backend_util.segment_util.collectGatherOpShapeInfo(
      x as never,
      indices as never,
      parsedAxis,
      batchDims,
    );
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
function explicitRounding(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const attrs = args.attrs as unknown as {
      pad: PadSpec;
      dimRoundingMode?: Rounding | undefined;
      strides: number | Pair;
      dilations?: number | Pair;
      filterSize?: number | Pair;
      inputShape?: number[];
    };
    if (attrs.dimRoundingMode == null) return original(args) as TensorInfo;
    const { inputs } = args;
    const inShape = attrs.inputShape ?? (inputs.input ?? inputs.x)!.shape;
    const filter: Pair =
      attrs.filterSize == null
        ? [inputs.filter!.shape[0]!, inputs.filter!.shape[1]!]
        : typeof attrs.filterSize === "number"
          ? [attrs.filterSize, attrs.filterSize]
          : attrs.filterSize;
    const { pad } = windowGeometry(inShape, filter, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode);
    return original({ ...args, attrs: { ...args.attrs, pad, dimRoundingMode: undefined } as never }) as TensorInfo;
  };
}

/**
 * Identity, and Cast to the same dtype, share the input's memory (refcounted,
 * as the cpu backend does) instead of copying it: tensors are immutable, and
 * the wasm copies were ~9% of a PGD step (gradient bookkeeping, ReLU's grad).
 */
function aliasSameDtype(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    const dtype = (args.attrs as { dtype?: string } | undefined)?.dtype ?? x!.dtype;
    if (x!.dtype === "string" || dtype !== x!.dtype) return original(args);
    (args.backend as BackendWasm).incRef(x!.dataId);
    return { dataId: x!.dataId, shape: [...x!.shape], dtype: x!.dtype };
  };
}

/** wasm kernels replaced by a wrapper around the original, and the wrapper. */
const WASM_KERNEL_FIXES: ReadonlyArray<[string, (original: KernelFunc) => KernelFunc]> = [
  ["GatherV2", gatherWithBatchDims],
  ["Identity", aliasSameDtype],
  ["Cast", aliasSameDtype],
  ...[
    "Conv2D",
    "DepthwiseConv2dNative",
    "FusedConv2D",
    "FusedDepthwiseConv2D",
    "MaxPool",
    "AvgPool",
    "AvgPoolGrad",
  ].map((name) => [name, explicitRounding] as [string, typeof explicitRounding]),
  ["MaxPoolGrad", () => maxPoolGrad],
  ["Conv2DBackpropInput", (original) => conv2DBackpropInputStride1(explicitRounding(original))],
];
/**
 * Kernel functions installed by this runtime (these fixes and the native
 * kernels of native_kernels.ts); a registered kernel in this set is not wrapped again.
 */
export const runtimeWrappers = new WeakSet<KernelFunc>();

/** Wraps the registered wasm kernel `name` once (idempotent). */
function patchWasmKernel(name: string, wrap: (original: KernelFunc) => KernelFunc): boolean {
  const current = getKernel(name, "wasm");
  if (current == null || runtimeWrappers.has(current.kernelFunc)) return false;
  const kernelFunc = wrap(current.kernelFunc);
  runtimeWrappers.add(kernelFunc);
  unregisterKernel(name, "wasm");
  // Keep the original setupFunc: it binds the C++ entry point the original calls.
  registerKernel({ ...current, kernelFunc });
  return true;
}

/** The kernels this module adds to the wasm backend. */
export const WASM_EXTRA_KERNELS: readonly KernelConfig[] = [
  { kernelName: "Conv2DBackpropFilter", backendName: "wasm", kernelFunc: conv2DBackpropFilter },
  {
    kernelName: "DepthwiseConv2dNativeBackpropFilter",
    backendName: "wasm",
    kernelFunc: depthwiseConv2dNativeBackpropFilter,
  },
  {
    kernelName: "DepthwiseConv2dNativeBackpropInput",
    backendName: "wasm",
    kernelFunc: depthwiseConv2dNativeBackpropInput,
  },
  { kernelName: "UnsortedSegmentSum", backendName: "wasm", kernelFunc: unsortedSegmentSum },
];

/**
 * Registers the extra wasm kernels and the fixes above; idempotent. A kernel
 * the installed wasm backend already provides is left alone. Returns the
 * kernel names registered by this call.
 */
export function registerWasmKernels(): string[] {
  const added: string[] = [];
  for (const config of WASM_EXTRA_KERNELS) {
    if (getKernel(config.kernelName, "wasm") == null) {
      registerKernel(config);
      added.push(config.kernelName);
    }
  }
  for (const [name, wrap] of WASM_KERNEL_FIXES) {
    if (patchWasmKernel(name, wrap)) added.push(name);
  }
  return added;
}
