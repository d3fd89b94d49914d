/**
 * Integer arithmetic of 8-bit post-training quantization, as PyTorch's
 * fbgemm configuration does it: weights int8 symmetric per output channel,
 * activations affine with min/max observers over [0, 127] (reduce_range).
 * Rounding is to nearest, ties to even, as torch.round / nearbyint.
 */

export const WEIGHT_QMAX = 127;
export const ACTIVATION_QMIN = 0;
export const ACTIVATION_QMAX = 127;

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move exact ties that landed on an odd number back down.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface PerChannelInt8 {
  /** Quantized values, same layout as the input. */
  values: Int8Array;
  /** One scale per output channel. */
  scales: Float32Array;
}

/**
 * Symmetric per-channel int8: scale_c = max|w_c| / 127, q = clamp(round(w / scale_c), -127, 127).
 * `channelOf(i)` gives the output channel of flat index i. Zeros stay exactly zero,
 * and |w - q*scale| <= scale/2 for every weight.
 */
export function quantizeWeights(weights: Float32Array, channels: number, channelOf: (i: number) => number): PerChannelInt8 {
  const maxAbs = new Float32Array(channels);
  for (let i = 0; i < weights.length; i++) {
    const c = channelOf(i);
    maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(weights[i]!));
  }
  // An all-zero channel (fully pruned) gets scale 1: every value quantizes to 0.
  const scales = maxAbs.map((m) => (m > 0 ? m / WEIGHT_QMAX : 1));
  const values = new Int8Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    const q = roundHalfEven(weights[i]! / scales[channelOf(i)]!);
    values[i] = Math.max(-WEIGHT_QMAX, Math.min(WEIGHT_QMAX, q));
  }
  return { values, scales };
}

export function dequantizeWeights({ values, scales }: PerChannelInt8, channelOf: (i: number) => number): Float32Array {
  // A loop: Float32Array.from with a map function took ~35 ms for ResNet20's weights, this ~1 ms.
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! * scales[channelOf(i)]!;
  return out;
}

export interface ActivationQParams {
  scale: number;
  zeroPoint: number;
}

/**
 * Affine parameters from an observed [min, max], widened to include 0 so that
 * zero (ReLU outputs, zero padding) is exact, as PyTorch's MinMaxObserver.
 */
export function activationQParams(min: number, max: number, qmin = ACTIVATION_QMIN, qmax = ACTIVATION_QMAX): ActivationQParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = Math.max((hi - lo) / (qmax - qmin), Number.EPSILON);
  const zeroPoint = Math.max(qmin, Math.min(qmax, qmin - roundHalfEven(lo / scale)));
  return { scale, zeroPoint };
}

/** quantize then dequantize one value: what an int8 kernel sees of it. */
export function fakeQuantize(x: number, { scale, zeroPoint }: ActivationQParams, qmin = ACTIVATION_QMIN, qmax = ACTIVATION_QMAX): number {
  const q = Math.max(qmin, Math.min(qmax, roundHalfEven(x / scale) + zeroPoint));
  return (q - zeroPoint) * scale;
}
