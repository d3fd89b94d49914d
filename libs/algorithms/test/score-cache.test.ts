import { describe, expect, it } from "vitest";
import { ScoreCache, type Scores } from "../src/index.js";

const scores = (bytes: number, value = 1): Scores => new Map([["w", new Float32Array(bytes / 4).fill(value)]]);

describe("ScoreCache", () => {
  it("computes each key once, and again after a failure", async () => {
    const cache = new ScoreCache(1024);
    let calls = 0;
    const compute = async () => (calls++, scores(16, calls));
    const first = await cache.get("a", compute);
    expect(await cache.get("a", compute)).toBe(first);
    expect(calls).toBe(1);
    await expect(cache.get("b", () => Promise.reject(new Error("cancelled")))).rejects.toThrow("cancelled");
    await Promise.resolve();
    expect((await cache.get("b", compute)).get("w")![0]).toBe(2);
  });

  it("drops the oldest entries beyond its byte bound, but keeps the newest", async () => {
    const cache = new ScoreCache(100);
    let calls = 0;
    const compute = async () => (calls++, scores(64));
    await cache.get("a", compute);
    await cache.get("b", compute); // 128 bytes > 100: "a" goes
    await cache.get("b", compute);
    expect(calls).toBe(2);
    await cache.get("a", compute);
    expect(calls).toBe(3);
    const huge = new ScoreCache(10);
    await huge.get("x", compute);
    await huge.get("x", compute); // larger than the bound on its own, still kept until the next
    expect(calls).toBe(4);
  });
});
