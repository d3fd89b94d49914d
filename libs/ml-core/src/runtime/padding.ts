import { backend_util, util } from "@tensorflow/tfjs-core";

/** A value per spatial axis (height, width), as tfjs's attrs give them. */
export type Pair = [number, number];
/** A number or a pair as a pair (tfjs attrs accept both). */
export const pair = (v: number | Pair | undefined, d = 1): Pair => (v == null ? [d, d] : typeof v === "number" ? [v, v] : v);
export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
/**
 * A reduction's axes (sorted, without repeats) and, when they form one run, x viewed as
 * [outer, reduced, inner] around it (`last`: the run's last axis): the layout the native
 * Sum and Mean read and their gradient writes.
 */
export function reductionAxes(shape: readonly number[], axis: number | number[]) {
  const axes = [...new Set(util.parseAxisParam(axis, [...shape]))].sort((a, b) => a - b);
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (first === undefined || last === undefined || axes.some((a, i) => a !== first + i)) return { axes, run: null };
  const size = (dims: readonly number[]) => util.sizeFromShape([...dims]);
  return { axes, run: { last, outer: size(shape.slice(0, first)), reduced: size(shape.slice(first, last + 1)), inner: size(shape.slice(last + 1)) } };
}
export type PadSpec = "valid" | "same" | number | backend_util.ExplicitPadding;
export type Rounding = "floor" | "round" | "ceil";

export interface WindowGeometry {
  /** NHWC explicit padding that yields exactly outHeight x outWidth windows. */
  pad: backend_util.ExplicitPadding;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  filterHeight: number;
  filterWidth: number;
}

/**
 * Resolves a conv/pool padding spec, including a dimRoundingMode, into
 * explicit NHWC padding. 'ceil' (or 'round') adds windows that run past the
 * bottom/right edge; the extra padding makes a plain floor-rounding kernel
 * produce exactly those windows. Dilation is folded into the effective size.
 */
export function windowGeometry(inShape: readonly number[], filter: Pair, strides: number | Pair, dilations: number | Pair, pad: PadSpec, rounding?: Rounding): WindowGeometry {
  const [n, h, w] = inShape as [number, number, number];
  const info = backend_util.computeConv2DInfo([n, h, w, 1], [filter[0], filter[1], 1, 1], strides, dilations, pad, rounding);
  const { top, left, bottom, right } = info.padInfo;
  const needBottom = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight - h - top;
  const needRight = (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth - w - left;
  return {
    pad: [[0, 0], [top, Math.max(bottom, needBottom)], [left, Math.max(right, needRight)], [0, 0]],
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    filterHeight: info.effectiveFilterHeight,
    filterWidth: info.effectiveFilterWidth,
  };
}
