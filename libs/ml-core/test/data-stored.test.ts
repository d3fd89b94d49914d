import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { decodeCifar100, decodeStoredDataset, encodeStoredDataset, readCifar100Dir } from "../src/data/index.js";
import { readImageFolder } from "../src/data/image-folder.js";

/** A folder of PNGs: class -> colours of its images. */
async function imageFolder(classes: Record<string, string[]>, size = 8): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), "gap-images-"));
  for (const [name, colours] of Object.entries(classes)) {
    mkdirSync(join(root, name));
    for (const [i, background] of colours.entries()) await sharp({ create: { width: size, height: size, channels: 3, background } }).png().toFile(join(root, name, `${i}.png`));
  }
  return root;
}

describe("a folder of images, one subfolder per class", () => {
  it("decodes to bytes, classes in sorted order, and round-trips through the stored format", async () => {
    const root = await imageFolder({ dog: ["#0000ff"], cat: ["#ff0000", "#00ff00"] });
    const data = await readImageFolder(root);
    expect(data.classNames).toEqual(["cat", "dog"]);
    expect(Array.from(data.labels)).toEqual([0, 0, 1]);
    expect([data.height, data.width, data.channels]).toEqual([8, 8, 3]);
    expect(Array.from(data.images.subarray(0, 3))).toEqual([255, 0, 0]); // cat/0.png is red
    const stored = decodeStoredDataset(encodeStoredDataset(data, "train"), "train");
    expect(stored.count).toBe(3);
    expect(stored.numClasses).toBe(2);
    expect(stored.images[3 * 64 * 2 + 2]).toBe(1); // dog/0.png: blue, as a float
    expect(() => decodeStoredDataset(encodeStoredDataset(data, "train"), "test")).toThrow(/holds the train split, not test/);
  });

  it("names the file or folder that is wrong: unreadable, another size, an empty class", async () => {
    const root = await imageFolder({ a: ["#000"], b: ["#fff"] });
    writeFileSync(join(root, "b", "broken.png"), "not a png");
    await expect(readImageFolder(root)).rejects.toThrow(/b\/broken\.png: cannot decode/);
    const sizes = await imageFolder({ a: ["#000"], b: ["#fff"] });
    await sharp({ create: { width: 9, height: 8, channels: 3, background: "#fff" } }).png().toFile(join(sizes, "b", "wide.png"));
    await expect(readImageFolder(sizes)).rejects.toThrow(/b\/wide\.png: 9x8, but .*a\/0\.png is 8x8/);
    const empty = await imageFolder({ a: ["#000"], b: [] });
    await expect(readImageFolder(empty)).rejects.toThrow(/b: class "b" has no images/);
  });

  it("refuses a stored object whose labels are out of range, naming the record", () => {
    const images = new Uint8Array(2 * 4 * 4 * 3);
    const bytes = encodeStoredDataset({ images, labels: Int32Array.from([0, 2]), height: 4, width: 4, channels: 3, classNames: ["a", "b"] }, "test");
    expect(() => decodeStoredDataset(bytes, "test")).toThrow(/record 1: label 2 is not in \[0, 2\)/);
  });
});

describe("CIFAR-100 binary", () => {
  it("reads the fine label and the planes of each record", () => {
    const record = new Uint8Array(3074);
    record[0] = 4; // coarse
    record[1] = 73; // fine
    record[2] = 255; // red of the first pixel
    record[2 + 1024 + 1] = 51; // green of the second
    const dir = mkdtempSync(join(tmpdir(), "gap-cifar100-"));
    writeFileSync(join(dir, "test.bin"), Buffer.concat([record, record]));
    const data = readCifar100Dir(dir, "test");
    expect(data.count).toBe(2);
    expect(data.numClasses).toBe(100);
    expect(Array.from(data.labels)).toEqual([73, 73]);
    expect(data.images[0]).toBe(1);
    expect(data.images[3 + 1]).toBeCloseTo(0.2, 6);
    expect(() => decodeCifar100(record.subarray(0, 100), "short.bin")).toThrow(/short\.bin: size 100 bytes is not a positive multiple of 3074/);
    const bad = Uint8Array.from(record);
    bad[1] = 100;
    expect(() => decodeCifar100(bad, "bad.bin")).toThrow(/bad\.bin: record 0 has labels 4\/100/);
    expect(() => readCifar100Dir(dir, "train")).toThrow(/train\.bin: CIFAR-100 file not found/);
  });
});
