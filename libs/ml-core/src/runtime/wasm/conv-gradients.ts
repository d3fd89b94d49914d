/** Conv and depthwise-conv gradients composed from XNNPACK convolutions, transposes and slices. */
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { pair, windowGeometry, type Pair } from "../padding.js";
import { compose, assertShape, assertNoDilation, type KernelArgs, type WasmOps } from "./compose.js";

/**
 * Conv2DBackpropFilter: dW[kh,kw,ci,co] = sum_{b,oh,ow} xpad[b, oh*s+kh, ow*s+kw, ci] * dy[b,oh,ow,co].
 *
 * That sum is itself a convolution: with the batch moved into the channel axis,
 * x^T = [Ci, H, W, B] convolved (stride 1, dilation s) with dy^T = [OH, OW, B, Co]
 * as the filter gives [Ci, KH, KW, Co]. One XNNPACK conv does the whole
 * reduction; measured ~7x faster than per-tap matmuls on wasm.
 */
export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  if (attrs.dataFormat === "NCHW") {
    throw new Error("wasm Conv2DBackpropFilter supports only dataFormat 'NHWC'");
  }
  const { info, window } = filterGradientWindow(x!, attrs, false);
  const [B, , , Ci] = x!.shape as [number, number, number, number];
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
 * The forward conv of a filter gradient (info), and what the gradient correlates:
 * x cropped to the rows/cols the forward conv read (trailing ones it never
 * reached are dropped), padded as in the forward, against dy as a filter dilated
 * by the stride (stride-1 conv attrs).
 */
function filterGradientWindow(x: TensorInfo, attrs: Conv2DBackpropFilterAttrs | DepthwiseConv2dNativeBackpropFilterAttrs, depthwise: boolean) {
  const [, H, W] = x.shape as [number, number, number, number];
  const [KH, KW] = attrs.filterShape;
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, depthwise);
  const { top, left } = info.padInfo;
  // Negative: trailing rows (cols) of x were never read.
  const bottom = (info.outHeight - 1) * info.strideHeight + KH - top - H;
  const right = (info.outWidth - 1) * info.strideWidth + KW - left - W;
  const pad: backend_util.ExplicitPadding = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]];
  const window = {
    cropped: bottom < 0 || right < 0,
    height: H + Math.min(bottom, 0),
    width: W + Math.min(right, 0),
    convAttrs: { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [info.strideHeight, info.strideWidth] } as NamedAttrMap,
  };
  return { info, window };
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
export function depthwiseConv2dNativeBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  assertNoDilation("DepthwiseConv2dNativeBackpropFilter", attrs.dilations);
  const { info, window } = filterGradientWindow(x!, attrs, true);
  const [B, , , C] = x!.shape as [number, number, number, number];
  const [KH, KW, , M] = attrs.filterShape;
  const { outHeight: OH, outWidth: OW } = info;
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
export function depthwiseConv2dNativeBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  assertNoDilation("DepthwiseConv2dNativeBackpropInput", attrs.dilations);
  const filterShape = filter!.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(attrs.inputShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true);
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
      const dil = ops.pad(ops.reshape(g, [B, OH, 1, OW, 1, C * M]), [[0, 0], [0, 0], [0, sH - 1], [0, 0], [0, sW - 1], [0, 0]]);
      gh = OH * sH;
      gw = OW * sW;
      g = ops.reshape(dil, [B, gh, gw, C * M]);
    }
    const full = fullCorrelation(ops, g, [H, W], [KH, KW], info.padInfo);
    const rotated = ops.reshape(ops.run("Reverse", { x: filter! }, { dims: [0, 1] }), [KH, KW, C * M, 1]);
    const out = ops.run("DepthwiseConv2dNative", { x: full.x, filter: rotated }, full.convAttrs); // [B, H, W, C*M]
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
export function conv2DBackpropInputStride1(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const [sH, sW] = pair(attrs.strides);
    if (sH !== 1 || sW !== 1 || attrs.dataFormat === "NCHW") return original(args) as TensorInfo;
    const { dy, filter } = args.inputs;
    const [B, H, W] = attrs.inputShape;
    const [KH, KW, , Co] = filter!.shape as [number, number, number, number];
    const g = windowGeometry(attrs.inputShape, [KH, KW], 1, 1, attrs.pad, attrs.dimRoundingMode);
    const { outHeight: OH, outWidth: OW } = g;
    assertShape("Conv2DBackpropInput", "dy", dy!.shape, [B, OH, OW, Co]);
    return compose(args.backend as BackendWasm, (ops) => {
      const full = fullCorrelation(ops, dy!, [H, W], [KH, KW], { top: g.pad[1][0], left: g.pad[2][0] });
      const rotated = ops.transpose(ops.run("Reverse", { x: filter! }, { dims: [0, 1] }), [0, 1, 3, 2]);
      return ops.run("Conv2D", { x: full.x, filter: rotated }, full.convAttrs); // [B, H, W, Ci]
    });
  };
}

/**
 * The input gradient as a full correlation: dy ([B, gh, gw, C], already dilated by the
 * stride) correlated at stride 1 with the 180-degree rotated filter gives [B, H, W, ..]
 * when padded by KH-1-top above and KW-1-left on the left (bottom and right what is left
 * to reach H and W). A negative amount crops dy instead. Returns dy, cropped where
 * needed, and the conv's attrs with the padding.
 */
function fullCorrelation(ops: WasmOps, dy: TensorInfo, [H, W]: Pair, [KH, KW]: Pair, forward: { top: number; left: number }) {
  const [B, gh, gw, C] = dy.shape as [number, number, number, number];
  const padTop = KH - 1 - forward.top;
  const padLeft = KW - 1 - forward.left;
  const padBottom = H + KH - 1 - padTop - gh;
  const padRight = W + KW - 1 - padLeft - gw;
  let x = dy;
  if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
    const r0 = Math.max(-padTop, 0);
    const c0 = Math.max(-padLeft, 0);
    x = ops.slice(dy, [0, r0, c0, 0], [B, gh + Math.min(padBottom, 0) - r0, gw + Math.min(padRight, 0) - c0, C]);
  }
  const pad: backend_util.ExplicitPadding = [[0, 0], [Math.max(padTop, 0), Math.max(padBottom, 0)], [Math.max(padLeft, 0), Math.max(padRight, 0)], [0, 0]];
  return { x, convAttrs: { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [1, 1] } as NamedAttrMap };
}
