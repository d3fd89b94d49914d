import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classCounts, FASHION_MNIST_CLASS_NAMES, FASHION_MNIST_DIR, loadFashionMnist, parseIdx } from "../src/data/index.js";

/** IDX bytes: magic, big-endian dims, data. */
function idx(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "gap-fmnist-test-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Three 28x28 images: pixel (y, x) of image n is (n*40 + y + x) % 256. */
function writeSmall(dir: string, prefix: string, gzip: boolean, labels = [4, 0, 9]): void {
  mkdirSync(dir, { recursive: true });
  const pixels: number[] = [];
  for (let n = 0; n < labels.length; n++) for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) pixels.push((n * 40 + y + x) % 256);
  const z = (b: Uint8Array) => (gzip ? gzipSync(b) : b);
  const suffix = gzip ? ".gz" : "";
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte${suffix}`), z(idx(2051, [labels.length, 28, 28], pixels)));
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte${suffix}`), z(idx(2049, [labels.length], labels)));
}

describe("IDX parsing", () => {
  it("reads the header and checks magic and size", () => {
    const a = parseIdx(idx(2051, [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), "x", 2051);
    expect(a.shape).toEqual([2, 2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(() => parseIdx(idx(2049, [3], [1, 2, 3]), "labels.idx", 2051)).toThrow(/labels\.idx: IDX magic number 2049, expected 2051/);
    expect(() => parseIdx(idx(2049, [4], [1, 2, 3]), "short.idx", 2049)).toThrow(/short\.idx: IDX data has 3 bytes.*needs 4/);
  });
});

describe("loadFashionMnist", () => {
  it("loads plain and gzipped IDX pairs into 28x28x1 floats", () => {
    const dir = join(tmp, "small");
    writeSmall(dir, "train", false);
    writeSmall(dir, "t10k", true, [1, 1]);
    const train = loadFashionMnist(dir, "train");
    expect([train.count, train.height, train.width, train.channels, train.numClasses]).toEqual([3, 28, 28, 1, 10]);
    expect(Array.from(train.labels)).toEqual([4, 0, 9]);
    // Image 2, pixel (y=3, x=5): (80 + 8) / 255.
    expect(train.images[2 * 784 + 3 * 28 + 5]).toBeCloseTo(88 / 255, 7);
    expect(train.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
    const test = loadFashionMnist(dir, "test");
    expect(Array.from(test.labels)).toEqual([1, 1]);
    expect(test.images[1 * 784 + 27 * 28 + 27]).toBeCloseTo((40 + 54) / 255, 7);
  });

  it("errors name the offending file", () => {
    expect(() => loadFashionMnist(join(tmp, "absent"), "train")).toThrow(/absent: directory not found/);
    const dir = join(tmp, "bad");
    writeSmall(dir, "train", false, [1, 2]);
    // Labels file with one label too many.
    writeFileSync(join(dir, "train-labels-idx1-ubyte"), idx(2049, [3], [1, 2, 3]));
    expect(() => loadFashionMnist(dir, "train")).toThrow(/train-labels-idx1-ubyte: 3 labels but .*train-images-idx3-ubyte has 2 images/);
    writeFileSync(join(dir, "train-labels-idx1-ubyte"), idx(2049, [2], [1, 12]));
    expect(() => loadFashionMnist(dir, "train")).toThrow(/train-labels-idx1-ubyte: label 12 of item 1/);
    // Images and labels swapped.
    writeFileSync(join(dir, "train-images-idx3-ubyte"), idx(2049, [2], [1, 2]));
    expect(() => loadFashionMnist(dir, "train")).toThrow(/train-images-idx3-ubyte: IDX magic number 2049, expected 2051/);
    expect(() => loadFashionMnist(dir, "test")).toThrow(/t10k-images-idx3-ubyte: file not found/);
    const dir2 = join(tmp, "badsize");
    mkdirSync(dir2);
    writeFileSync(join(dir2, "train-images-idx3-ubyte"), idx(2051, [1, 2, 2], [1, 2, 3, 4]));
    writeFileSync(join(dir2, "train-labels-idx1-ubyte"), idx(2049, [1], [0]));
    expect(() => loadFashionMnist(dir2, "train")).toThrow(/28x28, got 2x2/);
    const dir3 = join(tmp, "badgz");
    mkdirSync(dir3);
    writeFileSync(join(dir3, "train-images-idx3-ubyte.gz"), gzipSync(new Uint8Array(100)).subarray(0, 15));
    expect(() => loadFashionMnist(dir3, "train")).toThrow(/train-images-idx3-ubyte\.gz: cannot gunzip/);
  });

  const hasReal = existsSync(join(FASHION_MNIST_DIR, "t10k-labels-idx1-ubyte.gz")) || existsSync(join(FASHION_MNIST_DIR, "t10k-labels-idx1-ubyte"));
  it.skipIf(!hasReal)("reads the Debian package's files: 60,000 + 10,000 balanced examples", () => {
    const train = loadFashionMnist(undefined, "train");
    expect(train.count).toBe(60000);
    expect(classCounts(train)).toEqual(new Array(10).fill(6000));
    expect(train.labels[0]).toBe(9); // the first training image is an ankle boot
    const test = loadFashionMnist(FASHION_MNIST_DIR, "test");
    expect(test.count).toBe(10000);
    expect(classCounts(test)).toEqual(new Array(10).fill(1000));
    let max = 0;
    for (const v of test.images) if (v > max) max = v;
    expect(max).toBe(1);
  });
});
