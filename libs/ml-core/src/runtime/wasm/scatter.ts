/** UnsortedSegmentSum and MaxPoolGrad: their scatter steps as linear JS passes over wasm memory. */
import { util, type MaxPoolGradAttrs, type TensorInfo, type UnsortedSegmentSumAttrs } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { pair, windowGeometry } from "../padding.js";
import { compose, assertShape, type KernelArgs } from "./compose.js";

/**
 * UnsortedSegmentSum (the gradient of gather): out[s, ...] = sum of x[i, ...]
 * over i with segmentIds[i] == s; ids outside [0, numSegments) are dropped as
 * in TensorFlow. A linear JS pass over wasm memory; inputs here are small
 * (class logits), so a wasm round trip would cost more than it saves.
 */
export function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs;
  const { numSegments } = args.attrs as unknown as UnsortedSegmentSumAttrs;
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
export function maxPoolGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs;
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  const filter = pair(attrs.filterSize);
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
