import * as tf from "@tensorflow/tfjs-core";
import { forEachBatch } from "./batch-loop.js";
import type { Dataset } from "../data/types.js";
import type { Masks, MaskTensors, Model } from "../nn/model.js";
import { withMaskTensors } from "./masks.js";
import { crossEntropyPerExample } from "./loss.js";

export interface EvaluationOptions {
  batchSize: number;
  masks?: Masks;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface EvaluationCounts {
  correct: number;
  total: number;
  accuracy: number;
  /** Mean cross-entropy: the sum over all examples divided once by their number. */
  loss: number;
  /** Predicted class of every example, in data set order. */
  predictions: Int32Array;
}

/** Top-1 accuracy and loss in eval mode, with exact counts (no per-batch averaging). */
export function evaluate(model: Model, data: Dataset, options: EvaluationOptions): Promise<EvaluationCounts> {
  return withMaskTensors(model, options.masks, (masks) => evaluateMasked(model, data, options, masks));
}

async function evaluateMasked(model: Model, data: Dataset, options: EvaluationOptions, masks: MaskTensors | undefined): Promise<EvaluationCounts> {
  const predictions = new Int32Array(data.count);
  let correct = 0;
  let lossSum = 0;
  await forEachBatch(data, options, async ({ x, labels, batch }) => {
    const [batchPredictions, batchLoss] = tf.tidy(() => {
      const logits = model.forward(x, { training: false, masks });
      return [tf.argMax(logits, 1), tf.sum(crossEntropyPerExample(logits, labels))];
    });
    const predicted = (await batchPredictions.data()) as Int32Array;
    lossSum += (await batchLoss.data())[0]!;
    tf.dispose([batchPredictions, batchLoss]);
    for (let i = 0; i < batch.count; i++) {
      predictions[batch.indices[i]!] = predicted[i]!;
      if (predicted[i] === batch.labels[i]) correct++;
    }
  });
  return { correct, total: data.count, accuracy: data.count ? correct / data.count : 0, loss: data.count ? lossSum / data.count : 0, predictions };
}
