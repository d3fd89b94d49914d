/**
 * Convolutions on oneDNN: Conv2D and DepthwiseConv2dNative with both gradients,
 * and GapFusedConv2D, inference batch norm folded into a conv.
 */
import type { Conv2DAttrs, Conv2DBackpropFilterAttrs, Conv2DBackpropInputAttrs, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { sameShape, type Pair, type PadSpec, type Rounding } from "../padding.js";
import { ConvDirection, NativeCall, nativeKernelsActive, type FusedActivationName, type KernelArgs } from "./addon.js";
import { convGeometry } from "./geometry.js";
import { NATIVE_CONV_FUSED, NATIVE_FOLD_FILTER } from "./kernel-names.js";

type ConvAttrs = Omit<Conv2DAttrs, "dilations"> & Partial<Pick<Conv2DAttrs, "dilations">> & Partial<Pick<Conv2DBackpropInputAttrs, "inputShape"> & Pick<Conv2DBackpropFilterAttrs, "filterShape">>;

/** Each direction's inputs (a, b of the addon's conv2d), output shape and the x / filter shapes its geometry comes from. */
const DIRECTIONS = {
  [ConvDirection.forward]: { a: "x", b: "filter", suffix: "" },
  [ConvDirection.inputGradient]: { a: "dy", b: "filter", suffix: "BackpropInput" },
  [ConvDirection.filterGradient]: { a: "x", b: "dy", suffix: "BackpropFilter" },
} as const;

/** Conv2D, DepthwiseConv2dNative or one of their gradients over `original` (NHWC float32 that oneDNN can express). */
export function nativeConv(direction: ConvDirection, depthwise: boolean): (original: KernelFunc) => KernelFunc {
  const { a: aName, b: bName, suffix } = DIRECTIONS[direction];
  const kernelName = `${depthwise ? "DepthwiseConv2dNative" : "Conv2D"}${suffix}`;
  return (original) => (args: KernelArgs) => {
    const a = args.inputs[aName]!;
    const b = args.inputs[bName]!;
    const attrs = args.attrs as unknown as ConvAttrs;
    const xShape = direction === ConvDirection.inputGradient ? attrs.inputShape : args.inputs["x"]?.shape;
    const filterShape = direction === ConvDirection.filterGradient ? attrs.filterShape : args.inputs["filter"]?.shape;
    if (!nativeKernelsActive() || attrs.dataFormat === "NCHW" || a.dtype !== "float32" || b.dtype !== "float32" || xShape == null || filterShape == null) {
      return original(args);
    }
    const g = convGeometry(xShape, filterShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, depthwise);
    if (g == null || (direction !== ConvDirection.forward && !sameShape(args.inputs["dy"]!.shape, g.outShape))) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, kernelName);
    const out = call.output(direction === ConvDirection.forward ? g.outShape : direction === ConvDirection.inputGradient ? xShape : filterShape);
    call.conv(direction, a, b, out, g.params);
    return out;
  };
}

/** Whether GapFusedConv2D can run this conv: native kernels on and a geometry oneDNN expresses. */
export function nativeConvFusable(xShape: readonly number[], filterShape: readonly number[], strides: number | Pair, pad: PadSpec, depthwise = false): boolean {
  return nativeKernelsActive() && convGeometry(xShape, filterShape, strides, 1, pad, undefined, depthwise) != null;
}

/**
 * GapFusedConv2D, PyTorch's fuse_conv_bn_weights for inference, NHWC float32: inputs x,
 * filter, scale, offset, mean, variance, residual (optional); attrs strides, pad,
 * activation ("none", "relu", "relu6"), depthwise (the filter is [KH, KW, C,
 * multiplier]), eps. Output y = act(conv2d(x, filter * a) + offset - mean * a
 * (+ residual)), a = scale / sqrt(variance + eps) per output channel: the fold and
 * the weight reorder in one native pass, then one oneDNN inference conv with the add
 * and the activation as post-ops. One output only: tfjs builds a zero gradient in JS
 * for every output without one, so the input gradient refolds (GapFoldFilter).
 */
export function fusedConv2D(args: KernelArgs): TensorInfo {
  const { x, filter, scale, offset, mean, variance, residual } = args.inputs;
  const a = args.attrs as unknown as { strides: number | Pair; pad: PadSpec; dimRoundingMode?: Rounding; activation: FusedActivationName; depthwise?: boolean; eps: number };
  const g = convGeometry(x!.shape, filter!.shape, a.strides, 1, a.pad, undefined, a.depthwise === true);
  if (!["none", "relu", "relu6"].includes(a.activation)) throw new Error(`${NATIVE_CONV_FUSED}: activation must be none, relu or relu6, got ${String(a.activation)}`);
  if (g == null) throw new Error(`${NATIVE_CONV_FUSED}: oneDNN cannot express x [${x!.shape}], filter [${filter!.shape}], pad ${JSON.stringify(a.pad)}`);
  const channels = g.outShape[3];
  const perChannel = [scale, offset, mean, variance];
  const float = [x, filter, ...perChannel, residual].every((t) => t == null || t.dtype === "float32");
  if (!float || perChannel.some((t) => t == null || t.shape.length !== 1 || t.shape[0] !== channels) || (residual != null && !sameShape(residual.shape, g.outShape))) {
    throw new Error(`${NATIVE_CONV_FUSED}: needs float32 inputs, scale/offset/mean/variance [${channels}] and residual [${g.outShape}]`);
  }
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_CONV_FUSED);
  const y = call.output(g.outShape);
  call.fusedConv({ x: x!, filter: filter!, scale: scale!, offset: offset!, mean: mean!, variance: variance!, residual }, a.eps, y, g.params, a.activation);
  return y;
}

/**
 * GapFoldFilter: filter * scale / sqrt(variance + eps) per output channel, GapFusedConv2D's
 * fold bit for bit; attr eps. Output channels are the filter's last axis ([KH, KW, Ci, Co])
 * or its last two (depthwise [KH, KW, C, multiplier]).
 */
export function foldFilter(args: KernelArgs): TensorInfo {
  const { filter, scale, variance } = args.inputs;
  const eps = (args.attrs as unknown as { eps: number }).eps;
  const [last, beforeLast] = [...filter!.shape].reverse() as [number, number];
  const channels = scale!.shape[0]!;
  const fits = (t: TensorInfo) => t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === channels;
  if (filter!.dtype !== "float32" || filter!.shape.length !== 4 || !fits(scale!) || !fits(variance!) || (channels !== last && channels !== last * beforeLast)) {
    throw new Error(`${NATIVE_FOLD_FILTER}: needs a float32 filter [KH, KW, Ci, Co] (or depthwise [KH, KW, C, multiplier]) and scale/variance [Co] (or [C * multiplier])`);
  }
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_FOLD_FILTER);
  const folded = call.output(filter!.shape);
  call.foldFilter(filter!, scale!, variance!, eps, folded);
  return folded;
}
