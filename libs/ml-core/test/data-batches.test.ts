import { describe, expect, it } from "vitest";
import { augmentBatch, batchCount, cropAndFlip, deriveSeed, iterateBatches, makeSyntheticDataset, Rng, type Batch, type Dataset } from "../src/data/index.js";

/** n examples of 1x1x1 pixels whose value is the example index; label = index % 3. */
function indexed(n: number): Dataset {
  return { images: Float32Array.from({ length: n }, (_, i) => i), labels: Int32Array.from({ length: n }, (_, i) => i % 3), count: n, height: 1, width: 1, channels: 1, numClasses: 3 };
}

/** A 3x4 image with 2 channels: value (y*4 + x)*10 + c + 1 (never 0, so padding zeros are visible). */
const H = 3;
const W = 4;
const C = 2;
const img = Float32Array.from({ length: H * W * C }, (_, i) => Math.floor(i / C) * 10 + (i % C) + 1);
const at = (a: Float32Array, y: number, x: number, c: number) => a[(y * W + x) * C + c];

describe("iterateBatches", () => {
  it("yields data set order without shuffle, with a short last batch", () => {
    const ds = indexed(7);
    const batches = [...iterateBatches(ds, { batchSize: 3 })];
    expect(batches.map((b) => Array.from(b.indices))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    // In order, a batch is a view of the data set's arrays: nothing is copied.
    expect(batches.every((b) => b.images.buffer === ds.images.buffer && b.labels.buffer === ds.labels.buffer)).toBe(true);
    expect(Array.from([...iterateBatches(ds, { batchSize: 3, startBatch: 2 })][0]!.images)).toEqual([6]);
    expect(batches.map((b) => b.count)).toEqual([3, 3, 1]);
    expect(Array.from(batches[1]!.images)).toEqual([3, 4, 5]);
    expect(Array.from(batches[1]!.labels)).toEqual([0, 1, 2]);
    expect([...iterateBatches(indexed(7), { batchSize: 3, dropLast: true })].length).toBe(2);
    expect(batchCount(7, 3)).toBe(3);
    expect(batchCount(7, 3, true)).toBe(2);
    expect(batchCount(6, 3, true)).toBe(2);
    expect(() => [...iterateBatches(indexed(7), { batchSize: 0 })]).toThrow(/batchSize/);
  });

  it("shuffles reproducibly, covering every example once", () => {
    const ds = indexed(50);
    const order = (seed: number) => [...iterateBatches(ds, { batchSize: 8, shuffle: true, seed })].flatMap((b) => Array.from(b.indices));
    const a = order(1);
    expect(a).toEqual(order(1));
    expect(a).not.toEqual(order(2));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Images and labels travel with their index.
    for (const b of iterateBatches(ds, { batchSize: 8, shuffle: true, seed: 1 })) {
      expect(b.images.buffer).not.toBe(ds.images.buffer);
      expect(Array.from(b.images)).toEqual(Array.from(b.indices));
      expect(Array.from(b.labels)).toEqual(Array.from(b.indices, (i) => i % 3));
    }
  });
});

describe("cropAndFlip", () => {
  it("with no shift and no flip is the identity", () => {
    expect(cropAndFlip(img, H, W, C, { offsetY: 0, offsetX: 0, flip: false, padding: 0 })).toEqual(img);
    expect(cropAndFlip(img, H, W, C, { offsetY: 2, offsetX: 2, flip: false, padding: 2 })).toEqual(img);
  });

  it("mirrors left-right", () => {
    const out = cropAndFlip(img, H, W, C, { offsetY: 0, offsetX: 0, flip: true, padding: 0 });
    // Hand-mirrored: row y is [x=3, x=2, x=1, x=0].
    const expected = [];
    for (let y = 0; y < H; y++) for (const x of [3, 2, 1, 0]) for (let c = 0; c < C; c++) expected.push((y * W + x) * 10 + c + 1);
    expect(Array.from(out)).toEqual(expected);
  });

  it("shifts by the crop offset and fills with zeros", () => {
    // padding 1, origin (0, 2): out(y, x) = in(y - 1, x + 1).
    const out = cropAndFlip(img, H, W, C, { offsetY: 0, offsetX: 2, flip: false, padding: 1 });
    expect(Array.from(out.subarray(0, W * C))).toEqual(new Array(W * C).fill(0)); // top row from padding
    expect(at(out, 1, 0, 0)).toBe(at(img, 0, 1, 0));
    expect(at(out, 2, 2, 1)).toBe(at(img, 1, 3, 1));
    expect(at(out, 1, 3, 0)).toBe(0); // right column from padding
    expect(at(out, 2, 3, 1)).toBe(0);
    // Crop then flip: out(y, x) = in(y - 1, (W-1-x) + 1).
    const both = cropAndFlip(img, H, W, C, { offsetY: 0, offsetX: 2, flip: true, padding: 1 });
    expect(at(both, 1, 0, 0)).toBe(0);
    expect(at(both, 1, 1, 0)).toBe(at(img, 0, 3, 0));
    expect(at(both, 2, 3, 1)).toBe(at(img, 1, 1, 1));
  });
});

describe("augmentBatch", () => {
  const ds = makeSyntheticDataset({ count: 16, height: 6, width: 6, channels: 3, numClasses: 4, seed: 1 });
  const size = 6 * 6 * 3;
  const batch = [...iterateBatches(ds, { batchSize: 16 })][0]!;
  const image = (b: Batch, i: number) => b.images.subarray(i * size, (i + 1) * size);

  it("with padding 0 and no flip leaves images unchanged; does not modify its input", () => {
    const copy = batch.images.slice();
    const out = augmentBatch(batch, { randomCrop: true, padding: 0, horizontalFlip: false }, new Rng(3));
    expect(out.images).toEqual(batch.images);
    expect(out.images).not.toBe(batch.images);
    const out2 = augmentBatch(batch, { padding: 2 }, new Rng(3));
    expect(out2.images).not.toEqual(batch.images);
    expect(batch.images).toEqual(copy);
    expect(out2.labels).toEqual(batch.labels);
  });

  it("every image is one of the crop/flip variants, and flips happen about half the time", () => {
    const out = augmentBatch(batch, { padding: 1 }, 7);
    let flips = 0;
    for (let i = 0; i < batch.count; i++) {
      const matches: boolean[] = [];
      for (const flip of [false, true]) {
        for (let oy = 0; oy <= 2; oy++) {
          for (let ox = 0; ox <= 2; ox++) {
            const v = cropAndFlip(image(batch, i), 6, 6, 3, { offsetY: oy, offsetX: ox, flip, padding: 1 });
            if (v.every((p, j) => p === image(out, i)[j])) matches.push(flip);
          }
        }
      }
      expect(matches.length).toBe(1);
      if (matches[0]) flips++;
    }
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(16);
  });

  it("the same seed gives the same output; a numeric seed is independent of batch composition", () => {
    const a = augmentBatch(batch, {}, new Rng(5));
    expect(augmentBatch(batch, {}, new Rng(5)).images).toEqual(a.images);
    expect(augmentBatch(batch, {}, new Rng(6)).images).not.toEqual(a.images);

    const seed = deriveSeed(42, 0); // e.g. seed of epoch 0
    const whole = augmentBatch(batch, {}, seed);
    expect(augmentBatch(batch, {}, seed).images).toEqual(whole.images);
    // The same examples in shuffled batches of 5 get the same augmentation.
    for (const small of iterateBatches(ds, { batchSize: 5, shuffle: true, seed: 9 })) {
      const aug = augmentBatch(small, {}, seed);
      for (let i = 0; i < small.count; i++) expect(image(aug, i)).toEqual(image(whole, small.indices[i]!));
    }
    expect(augmentBatch(batch, {}, deriveSeed(42, 1)).images).not.toEqual(whole.images);
  });
});
