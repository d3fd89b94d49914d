// Registers the gradient functions (and wasm kernels) training needs.
import "../runtime/index.js";
import * as tf from "@tensorflow/tfjs-core";
import { augmentBatch, iterateBatches, batchCount, type AugmentOptions } from "../data/batches.js";
import { deriveSeed } from "../data/rng.js";
import type { Dataset } from "../data/types.js";
import type { Masks, Model } from "../nn/model.js";
import { crossEntropy } from "./loss.js";
import { applyMasks, validateMasks } from "./masks.js";
import { learningRateAt, type LearningRateSchedule } from "./schedule.js";
import { Sgd } from "./sgd.js";
import { throwIfAborted, yieldToEventLoop } from "./yield.js";

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  schedule: LearningRateSchedule;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  /** Random crop and flip; false trains on the images as they are. */
  augmentation: AugmentOptions | false;
  /** Seeds the data order, augmentation and dropout. */
  seed: number;
  /** Pruning masks kept on every step (fine-tuning). */
  masks?: Masks;
  signal?: AbortSignal;
  onProgress?: (progress: TrainProgress) => void;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** Steps done over the whole run, and their total. */
  step: number;
  totalSteps: number;
  learningRate: number;
  /** Mean loss and accuracy over the current epoch so far. */
  loss: number;
  accuracy: number;
}

export interface TrainSummary {
  epochsCompleted: number;
  /** Mean loss and accuracy over the last epoch (on augmented inputs). */
  finalLoss: number;
  finalAccuracy: number;
}

/**
 * Mini-batch SGD on the model in place. With masks, the effective weight is
 * weight * mask in every forward pass and the stored pruned weights are reset
 * to exactly 0 after every update, so they stay 0 through fine-tuning.
 */
export async function train(model: Model, data: Dataset, options: TrainOptions): Promise<TrainSummary> {
  const { epochs, batchSize, masks, signal } = options;
  if (masks) {
    validateMasks(model, masks);
    applyMasks(model, masks);
  }
  const sgd = new Sgd(options);
  // variableGrads keys gradients by the tfjs variable name.
  const params = new Map(model.params.map((p) => [p.variable.name, p.variable]));
  const variables = model.params.map((p) => p.variable);
  const stepsPerEpoch = batchCount(data.count, batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  let step = 0;
  let summary: TrainSummary = { epochsCompleted: 0, finalLoss: NaN, finalAccuracy: NaN };
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const learningRate = learningRateAt(options.schedule, epoch, epochs);
      const epochSeed = deriveSeed(options.seed, epoch);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (const clean of iterateBatches(data, { batchSize, shuffle: true, seed: epochSeed })) {
        throwIfAborted(signal);
        const batch = options.augmentation ? augmentBatch(clean, options.augmentation, deriveSeed(epochSeed, 1)) : clean;
        const stepCorrect = { value: undefined as tf.Scalar | undefined };
        const { value: loss, grads } = tf.tidy(() => {
          const x = tf.tensor4d(batch.images, [batch.count, batch.height, batch.width, batch.channels]);
          const labels = tf.tensor1d(batch.labels, "int32");
          return tf.variableGrads(() => {
            const logits = model.forward(x, { training: true, masks, dropoutSeed: deriveSeed(epochSeed, 2, step) });
            stepCorrect.value = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), labels)) as tf.Scalar);
            return crossEntropy(logits, labels);
          }, variables);
        });
        sgd.step(params, grads, learningRate);
        tf.dispose(grads);
        model.commitBatchStats();
        if (masks) applyMasks(model, masks);
        lossSum += (await loss.data())[0]! * batch.count;
        correct += (await stepCorrect.value!.data())[0]!;
        tf.dispose([loss, stepCorrect.value!]);
        seen += batch.count;
        step++;
        options.onProgress?.({ epoch, epochs, step, totalSteps, learningRate, loss: lossSum / seen, accuracy: correct / seen });
        await yieldToEventLoop();
      }
      summary = { epochsCompleted: epoch + 1, finalLoss: lossSum / seen, finalAccuracy: correct / seen };
    }
  } finally {
    model.discardBatchStats();
    sgd.dispose();
  }
  return summary;
}
