import { describe, expect, it } from "vitest";
import { Rng } from "@gap/ml-core";
import { activationQParams, dequantizeWeights, fakeQuantize, quantizeWeights, roundHalfEven } from "../src/quantization/int8.js";

describe("int8 arithmetic", () => {
  it("rounds half to even like torch.round", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3, -3]);
  });

  it("quantizes weights per output channel by hand", () => {
    // Two channels interleaved (channel = i % 2): channel 0 max 1.27 -> scale .01, channel 1 max 0.254 -> scale .002.
    const w = Float32Array.from([1.27, 0.254, -0.005, -0.001, 0, 0.0031]);
    const { values, scales } = quantizeWeights(w, 2, (i) => i % 2);
    expect(Array.from(scales)).toEqual([Math.fround(1.27) / 127, Math.fround(0.254) / 127].map(Math.fround));
    // -0.005/.01 = -0.5 -> -0 (ties to even); -0.001/.002 = -0.5 -> -0; 0.0031/.002 = 1.55 -> 2
    expect(Array.from(values)).toEqual([127, 127, 0, 0, 0, 2]);
  });

  it("keeps the error within scale/2 for every weight, and zeros exactly zero", () => {
    const rng = new Rng(3);
    const channels = 8;
    const w = Float32Array.from({ length: 8 * 50 }, (_, i) => (i % 7 === 0 ? 0 : rng.normal() * (1 + (i % channels))));
    const channelOf = (i: number) => i % channels;
    const q = quantizeWeights(w, channels, channelOf);
    const back = dequantizeWeights(q, channelOf);
    w.forEach((value, i) => {
      expect(Math.abs(value - back[i]!)).toBeLessThanOrEqual(q.scales[channelOf(i)]! / 2 + 1e-7);
      if (value === 0) expect(back[i]).toBe(0);
    });
  });

  it("takes activation parameters from min/max over [0, 127] with zero exact", () => {
    const relu = activationQParams(0, 6.35);
    expect(relu).toEqual({ scale: 6.35 / 127, zeroPoint: 0 });
    const signed = activationQParams(-1, 3);
    expect(signed.scale).toBeCloseTo(4 / 127, 12);
    expect(signed.zeroPoint).toBe(32); // 0 - round(-1 / (4/127)) = round(31.75)
    expect(fakeQuantize(0, signed)).toBe(0);
    expect(fakeQuantize(100, signed)).toBeCloseTo((127 - 32) * signed.scale, 12); // clamped at qmax
    expect(fakeQuantize(-100, signed)).toBeCloseTo(-32 * signed.scale, 12); // clamped at qmin
    expect(Math.abs(fakeQuantize(1.234, signed) - 1.234)).toBeLessThanOrEqual(signed.scale / 2);
  });
});
