/**
 * Fashion-MNIST (and MNIST) in the IDX format, optionally gzip-compressed.
 * IDX: 2 zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
 * then one big-endian uint32 per dimension, then the data. Hence the magic numbers
 * 2049 (0x00000801, labels) and 2051 (0x00000803, images).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Dataset, Split } from "./types.js";

export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";
export const FASHION_MNIST_CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
export const IDX_LABELS_MAGIC = 2049;
export const IDX_IMAGES_MAGIC = 2051;

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Parse an unsigned-byte IDX file and check its magic number and size; `file` names it in errors. */
export function parseIdx(bytes: Uint8Array, file: string, expectedMagic: number): IdxArray {
  if (bytes.length < 4) throw new Error(`${file}: too short for an IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expectedMagic) throw new Error(`${file}: IDX magic number ${magic}, expected ${expectedMagic}`);
  const ndim = magic & 0xff;
  const headerSize = 4 + 4 * ndim;
  if (bytes.length < headerSize) throw new Error(`${file}: truncated IDX header`);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i));
  const expected = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - headerSize !== expected) {
    throw new Error(`${file}: IDX data has ${bytes.length - headerSize} bytes, shape [${shape.join(", ")}] needs ${expected}`);
  }
  return { shape, data: bytes.subarray(headerSize) };
}

/** Read `name` or `name.gz` from dir, decompressing when gzip. */
export function readMaybeGzip(dir: string, name: string): { file: string; bytes: Uint8Array } {
  for (const file of [join(dir, name), join(dir, `${name}.gz`)]) {
    if (!existsSync(file)) continue;
    let bytes: Uint8Array = readFileSync(file);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes);
      } catch (e) {
        throw new Error(`${file}: cannot gunzip: ${(e as Error).message}`);
      }
    }
    return { file, bytes };
  }
  throw new Error(`${join(dir, name)}: file not found (also tried ${name}.gz)`);
}

/** Load an IDX image/label pair from dir (28x28 grayscale for (Fashion-)MNIST, any size accepted). */
export function loadIdxDataset(dir: string, imagesName: string, labelsName: string, numClasses: number, classNames?: string[]): Dataset {
  if (!existsSync(dir)) throw new Error(`${dir}: directory not found`);
  const img = readMaybeGzip(dir, imagesName);
  const lab = readMaybeGzip(dir, labelsName);
  const images = parseIdx(img.bytes, img.file, IDX_IMAGES_MAGIC);
  const labels = parseIdx(lab.bytes, lab.file, IDX_LABELS_MAGIC);
  const [count, height, width] = images.shape as [number, number, number];
  if (labels.shape[0] !== count) throw new Error(`${lab.file}: ${labels.shape[0]} labels but ${img.file} has ${count} images`);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const l = labels.data[i]!;
    if (l >= numClasses) throw new Error(`${lab.file}: label ${l} of item ${i} is not < ${numClasses}`);
    out[i] = l;
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i]! / 255;
  return { images: pixels, labels: out, count, height, width, channels: 1, numClasses, classNames };
}

export function loadFashionMnist(dir: string = FASHION_MNIST_DIR, split: Split = "train"): Dataset {
  const prefix = split === "train" ? "train" : "t10k";
  const ds = loadIdxDataset(dir, `${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`, 10, [...FASHION_MNIST_CLASS_NAMES]);
  if (ds.height !== 28 || ds.width !== 28) throw new Error(`${dir}: Fashion-MNIST images must be 28x28, got ${ds.height}x${ds.width}`);
  return ds;
}
