import * as tf from "@tensorflow/tfjs-core";
import { iterateBatches, type BatchOptions } from "../data/batches.js";
import type { Batch, Dataset } from "../data/types.js";
import { throwIfAborted, yieldToEventLoop } from "./yield.js";

export interface BatchLoopOptions extends BatchOptions {
  /** Stop after this many batches (counted from batch 0, so a resumed loop stops at the same place). */
  maxBatches?: number;
  /** Changes a batch before it becomes tensors (augmentation). */
  prepare?: (batch: Batch, index: number) => Batch;
  signal?: AbortSignal;
  /** Examples done so far, and in all, after each batch. */
  onProgress?: (done: number, total: number) => void;
}

/** One mini-batch as tensors: x NHWC float32 in [0, 1], labels int32. They live until `step` returns. */
export interface TensorBatch {
  x: tf.Tensor4D;
  labels: tf.Tensor1D;
  batch: Batch;
  /** The batch's index in the pass (from startBatch on). */
  index: number;
}

/**
 * The one loop over a data set in mini-batches that every job runs: before each
 * batch it checks for cancellation; it makes the batch's tensors, runs `step`,
 * frees them, reports progress and yields to the event loop, so that health
 * checks and cancellation answer during long jobs.
 */
export async function forEachBatch(data: Dataset, options: BatchLoopOptions, step: (batch: TensorBatch) => void | Promise<void>): Promise<void> {
  const startBatch = options.startBatch ?? 0;
  const total = Math.min(data.count, (options.maxBatches ?? Infinity) * options.batchSize);
  let done = Math.min(total, startBatch * options.batchSize);
  let index = startBatch;
  for (const raw of iterateBatches(data, options)) {
    if (options.maxBatches !== undefined && index >= options.maxBatches) break;
    throwIfAborted(options.signal);
    const batch = options.prepare ? options.prepare(raw, index) : raw;
    const x = tf.tensor4d(batch.images, [batch.count, batch.height, batch.width, batch.channels]);
    const labels = tf.tensor1d(batch.labels, "int32");
    try {
      await step({ x, labels, batch, index });
    } finally {
      tf.dispose([x, labels]);
    }
    index++;
    done += batch.count;
    options.onProgress?.(done, total);
    await yieldToEventLoop();
  }
}
