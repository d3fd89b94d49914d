/**
 * A small learnable data set for tests and smoke runs: each class is a plane wave with its
 * own orientation, frequency and per-channel phase; every example adds a random brightness
 * shift and per-pixel Gaussian noise. The class patterns depend only on the class index and
 * the image shape, not on the seed, so two seeds give a train and a test set of the same task.
 */
import { Rng } from "./rng.js";
import type { Dataset } from "./types.js";

export interface SyntheticOptions {
  count: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  seed: number;
  /** Standard deviation of per-pixel noise (default 0.1). */
  noise?: number;
}

/** The noise-free pattern of class k, NHWC for one image, values in [0.2, 0.8]. */
export function syntheticClassPattern(k: number, numClasses: number, height: number, width: number, channels: number): Float32Array {
  const pattern = new Float32Array(height * width * channels);
  const angle = (Math.PI * k) / numClasses; // distinct orientations in [0, pi)
  const freq = 1 + 0.5 * (k % 3); // cycles across the image
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = 2 * Math.PI * freq * ((x / width) * cos + (y / height) * sin);
      for (let c = 0; c < channels; c++) {
        const phase = (2 * Math.PI * c) / (channels + 1) + k;
        pattern[(y * width + x) * channels + c] = 0.5 + 0.3 * Math.sin(t + phase);
      }
    }
  }
  return pattern;
}

export function makeSyntheticDataset(options: SyntheticOptions): Dataset {
  const { count, height, width, channels, numClasses, seed, noise = 0.1 } = options;
  for (const [name, v] of Object.entries({ count, height, width, channels, numClasses })) {
    if (!Number.isInteger(v) || v < (name === "count" ? 0 : 1)) throw new Error(`makeSyntheticDataset: ${name} must be a positive integer, got ${v}`);
  }
  const rng = new Rng(seed);
  const size = height * width * channels;
  const patterns = Array.from({ length: numClasses }, (_, k) => syntheticClassPattern(k, numClasses, height, width, channels));

  // Balanced labels (counts differ by at most one), in random order.
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % numClasses;
  rng.shuffle(labels);

  const images = new Float32Array(count * size);
  for (let n = 0; n < count; n++) {
    const pattern = patterns[labels[n]!]!;
    const brightness = (rng.nextFloat() - 0.5) * 0.2;
    const base = n * size;
    for (let i = 0; i < size; i++) {
      const v = pattern[i]! + brightness + noise * rng.normal();
      images[base + i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return {
    images,
    labels,
    count,
    height,
    width,
    channels,
    numClasses,
    classNames: Array.from({ length: numClasses }, (_, k) => `class_${k}`),
  };
}
