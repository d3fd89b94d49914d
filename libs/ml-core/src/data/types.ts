/**
 * A labelled image data set held in memory.
 * Pixels are float32 in [0, 1], laid out NHWC: images[((n*H + y)*W + x)*C + c].
 */
export interface Dataset {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  classNames?: string[];
}

/** One mini-batch, same layout as Dataset.images. Its arrays may be views of the data set's (in-order batches): read them, never write. */
export interface Batch {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  /** Index in the source data set of each example in the batch. */
  indices: Int32Array;
  height: number;
  width: number;
  channels: number;
}

export type Split = "train" | "test";

/** Number of floats in one image. */
export function imageSize(ds: Pick<Dataset, "height" | "width" | "channels">): number {
  return ds.height * ds.width * ds.channels;
}

/** Throws when the arrays disagree with the declared shape or labels are out of range. */
export function validateDataset(ds: Dataset): void {
  const size = imageSize(ds);
  if (ds.images.length !== ds.count * size) {
    throw new Error(`dataset: images.length ${ds.images.length} != count*H*W*C = ${ds.count * size}`);
  }
  if (ds.labels.length !== ds.count) {
    throw new Error(`dataset: labels.length ${ds.labels.length} != count ${ds.count}`);
  }
  for (let i = 0; i < ds.count; i++) {
    const l = ds.labels[i];
    if (l < 0 || l >= ds.numClasses) throw new Error(`dataset: label ${l} of example ${i} not in [0, ${ds.numClasses})`);
  }
}

/** Number of examples of each class. */
export function classCounts(ds: Pick<Dataset, "labels" | "numClasses">): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (const l of ds.labels) counts[l]++;
  return counts;
}
