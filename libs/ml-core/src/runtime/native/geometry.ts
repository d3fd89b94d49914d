import { backend_util, type MaxPoolAttrs } from "@tensorflow/tfjs-core";
import { pair, windowGeometry, type Pair, type PadSpec, type Rounding } from "../padding.js";
import type { ConvParams, Nhwc, PoolParams } from "./addon.js";

export interface ConvGeometry {
  params: ConvParams;
  outShape: [number, number, number, number];
}

/**
 * A tfjs conv in oneDNN terms, or null where oneDNN's output-size rule
 * (floor((H + padT + padB - effK) / s) + 1) cannot reproduce tfjs's output
 * with non-negative padding. Depthwise filters are [KH, KW, Ci, multiplier].
 */
export function convGeometry(xShape: readonly number[], filterShape: readonly number[], strides: number | Pair, dilations: number | Pair | undefined, pad: PadSpec, rounding: Rounding | undefined, depthwise = false): ConvGeometry | null {
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const [N, H, W, Ci] = xShape as [number, number, number, number];
  const [KH, KW, fCi, fOut] = filterShape as [number, number, number, number];
  const Co = depthwise ? Ci * fOut : fOut;
  if (fCi !== Ci) return null;
  const info = backend_util.computeConv2DInfo([N, H, W, Ci], [KH, KW, Ci, Co], strides, dilations ?? 1, pad, rounding);
  const { outHeight: OH, outWidth: OW, strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { effectiveFilterHeight: eKH, effectiveFilterWidth: eKW } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (N * H * W * Ci === 0 || OH <= 0 || OW <= 0 || Co === 0 || padTop < 0 || padLeft < 0) return null;
  const fit = (size: number, before: number, given: number, eff: number, s: number, out: number): number | null => {
    const ok = (after: number) => after >= 0 && Math.floor((size + before + after - eff) / s) + 1 === out && size + before + after >= eff;
    if (ok(given)) return given;
    const need = (out - 1) * s + eff - size - before;
    return ok(need) ? need : ok(Math.max(need, 0)) ? Math.max(need, 0) : null;
  };
  const padBottom = fit(H, padTop, info.padInfo.bottom, eKH, strideHeight, OH);
  const padRight = fit(W, padLeft, info.padInfo.right, eKW, strideWidth, OW);
  if (padBottom == null || padRight == null) return null;
  return {
    params: {
      N, H, W, Ci, KH, KW, Co, OH, OW,
      strideH: strideHeight, strideW: strideWidth, dilationH: dilationHeight, dilationW: dilationWidth,
      padTop, padLeft, padBottom, padRight,
      groups: depthwise ? Ci : 1,
    },
    outShape: [N, OH, OW, Co],
  };
}

/** A max pool's output shape and parameters for an NHWC input. */
export function poolGeometry(xShape: readonly number[], attrs: MaxPoolAttrs): { outShape: number[]; params: PoolParams } {
  const [KH, KW] = pair(attrs.filterSize);
  const g = windowGeometry(xShape, [KH, KW], attrs.strides, 1, attrs.pad as PadSpec, attrs.dimRoundingMode as Rounding | undefined);
  const [N, H, W, C] = xShape as [number, number, number, number];
  return {
    outShape: [N, g.outHeight, g.outWidth, C],
    params: { N, H, W, C, OH: g.outHeight, OW: g.outWidth, KH, KW, strideH: g.strideHeight, strideW: g.strideWidth, padTop: g.pad[1][0], padLeft: g.pad[2][0] },
  };
}

/** [N, H, W, C] of an NHWC (rank 4) or [N, C] (rank 2) tensor, else null. */
export function nhwc(shape: readonly number[]): Nhwc | null {
  if (shape.length === 4) return shape as Nhwc;
  if (shape.length === 2) return [shape[0]!, 1, 1, shape[1]!];
  return null;
}

/** Rank <= 4 values padded with leading `fill`s to rank 4 (the addon's slice4 and pad4). */
export const toRank4 = (v: readonly number[], fill: number): number[] => [...new Array<number>(4 - v.length).fill(fill), ...v];
