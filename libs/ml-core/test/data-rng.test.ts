import { describe, expect, it } from "vitest";
import { deriveSeed, Rng } from "../src/data/index.js";

describe("Rng (xoshiro128**)", () => {
  it("matches the reference algorithm from state [1, 2, 3, 4]", () => {
    const rng = Rng.fromState([1, 2, 3, 4]);
    // By hand: out = rotl(s1*5, 7)*9 = rotl(10, 7)*9 = 1280*9 = 11520; the state becomes
    // [7, 0, 1026, 12288], so out = 0; then [12295, 1029, 1029, 12288<<11], out = rotl(5145,7)*9.
    expect(rng.nextUint32()).toBe(11520);
    expect(rng.nextUint32()).toBe(0);
    expect(rng.nextUint32()).toBe(5145 * 128 * 9);
    // Next three values printed by the reference C code (prng.di.unimi.it/xoshiro128starstar.c).
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([70819200, 2031721883, 1637235492]);
  });

  it("is reproducible under a seed and differs across seeds", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 20 }, () => a.nextUint32());
    const sb = Array.from({ length: 20 }, () => b.nextUint32());
    const sc = Array.from({ length: 20 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it("nextFloat is in [0,1) with mean about 1/2", () => {
    const rng = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const v = rng.nextFloat();
      expect(v >= 0 && v < 1).toBe(true);
      sum += v;
    }
    // Standard error of the mean is 0.29/sqrt(20000) = 0.002; allow 5 sigma.
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01);
  });

  it("nextInt(n) covers 0..n-1 evenly", () => {
    const rng = new Rng(7);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70000; i++) counts[rng.nextInt(7)]++;
    // Expected 10000 each, sd about 93.
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
    expect(() => rng.nextInt(0)).toThrow(/nextInt/);
    expect(() => rng.nextInt(2.5)).toThrow(/nextInt/);
  });

  it("normal() has mean 0 and variance 1", () => {
    const rng = new Rng(3);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      s += z;
      s2 += z * z;
    }
    const mean = s / n;
    expect(Math.abs(mean)).toBeLessThan(0.04);
    expect(Math.abs(s2 / n - mean * mean - 1)).toBeLessThan(0.06);
    expect(new Rng(3).normal(10, 0)).toBe(10);
  });

  it("shuffle is a seeded permutation", () => {
    const p1 = new Rng(9).permutation(100);
    const p2 = new Rng(9).permutation(100);
    const p3 = new Rng(10).permutation(100);
    expect(Array.from(p1)).toEqual(Array.from(p2));
    expect(Array.from(p1)).not.toEqual(Array.from(p3));
    expect(Array.from(p1).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const arr = ["a", "b", "c", "d"];
    expect(new Rng(1).shuffle(arr)).toBe(arr);
    expect([...arr].sort()).toEqual(["a", "b", "c", "d"]);
  });

  it("shuffle puts each element at each position about equally often", () => {
    const rng = new Rng(5);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[rng.shuffle([0, 1, 2]).indexOf(0)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
  });

  it("deriveSeed is deterministic and separates its inputs", () => {
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
    const seeds = new Set([deriveSeed(1), deriveSeed(1, 0), deriveSeed(1, 0, 0), deriveSeed(1, 1), deriveSeed(2, 0), deriveSeed(1, 2, 3), deriveSeed(1, 3, 2)]);
    expect(seeds.size).toBe(7);
    const f1 = new Rng(5).fork().nextUint32();
    expect(new Rng(5).fork().nextUint32()).toBe(f1);
  });
});
