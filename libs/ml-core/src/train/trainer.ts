// Registers the gradient functions (and wasm kernels) training needs.
import "../runtime/index.js";
import * as tf from "@tensorflow/tfjs-core";
import { augmentBatch, batchCount, type AugmentOptions } from "../data/batches.js";
import type { Batch } from "../data/types.js";
import { forEachBatch } from "./batch-loop.js";
import { deriveSeed } from "../data/rng.js";
import type { Dataset } from "../data/types.js";
import type { Masks, MaskTensors, Model } from "../nn/model.js";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../io/safetensors.js";
import { loadStateDict, stateDict } from "../io/weights.js";
import type { Checkpoints } from "./checkpoint.js";
import { crossEntropy } from "./loss.js";
import { applyMasks, withMaskTensors } from "./masks.js";
import { learningRateAt, type LearningRateSchedule } from "./schedule.js";
import { Sgd } from "./sgd.js";

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
  /** Saved after every epoch; a run that finds one continues after its epoch, to the same final bits. */
  checkpoints?: Checkpoints;
  signal?: AbortSignal;
  onProgress?: (progress: TrainProgress) => void;
}

/** One epoch's training metrics (the curves). */
export interface EpochRecord {
  /** From 1. */
  epoch: number;
  loss: number;
  accuracy: number;
  learningRate: number;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** Images per second over the epoch so far. */
  imagesPerSecond: number;
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
  /** Epochs this call started from a checkpoint after (0: from the start). */
  resumedAfterEpoch: number;
  /** Every epoch's metrics, those before a checkpoint included. */
  history: EpochRecord[];
}

const MOMENTUM = "momentum/";

/**
 * Everything the next epoch depends on: weights and BatchNorm statistics (the
 * state dict), the momentum buffers, and the epochs done (which fix the data
 * order, augmentation and dropout seeds of what follows).
 */
function encodeTrainState(model: Model, sgd: Sgd, summary: TrainSummary): Uint8Array {
  const tensors: Record<string, SafeTensor> = stateDict(model);
  const names = new Map(model.params.map((p) => [p.variable.name, p]));
  for (const [key, values] of sgd.momentumState()) {
    const param = names.get(key)!;
    tensors[MOMENTUM + param.name] = { dtype: "F32", shape: [...param.variable.shape], data: values };
  }
  return encodeSafetensors(tensors, { kind: "train_state", epochs_completed: String(summary.epochsCompleted), history: JSON.stringify(summary.history) });
}

function restoreTrainState(bytes: Uint8Array, model: Model, sgd: Sgd): TrainSummary {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.kind !== "train_state") throw new Error(`not a training checkpoint (kind "${metadata.kind ?? ""}")`);
  const weights = Object.fromEntries(Object.entries(tensors).filter(([name]) => !name.startsWith(MOMENTUM)));
  loadStateDict(model, weights);
  const byName = new Map(model.params.map((p) => [p.name, p.variable]));
  const momentum = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.startsWith(MOMENTUM)) continue;
    const variable = byName.get(name.slice(MOMENTUM.length));
    if (!variable) throw new Error(`training checkpoint: momentum for unknown parameter ${name}`);
    momentum.set(variable.name, t.data as Float32Array);
  }
  sgd.restoreMomentum(momentum, new Map(model.params.map((p) => [p.variable.name, p.variable.shape])));
  const epochs = Number(metadata.epochs_completed);
  const history = JSON.parse(metadata.history ?? "[]") as EpochRecord[];
  const last = history.at(-1);
  return { epochsCompleted: epochs, finalLoss: last?.loss ?? NaN, finalAccuracy: last?.accuracy ?? NaN, resumedAfterEpoch: epochs, history };
}

/** What each epoch's seed (the shuffle's) is salted with for the epoch's other random streams; part of every result's bits. */
const EPOCH_SEED_SALTS = { augmentation: 1, dropout: 2 } as const;

/**
 * Mini-batch SGD on the model in place. With masks, the effective weight is
 * weight * mask in every forward pass and the stored pruned weights are reset
 * to exactly 0 after every update, so they stay 0 through fine-tuning.
 */
export function train(model: Model, data: Dataset, options: TrainOptions): Promise<TrainSummary> {
  return withMaskTensors(model, options.masks, (masks) => trainMasked(model, data, options, masks));
}

async function trainMasked(model: Model, data: Dataset, options: TrainOptions, masks: MaskTensors | undefined): Promise<TrainSummary> {
  const { epochs, batchSize, signal } = options;
  if (masks) applyMasks(model, masks);
  const sgd = new Sgd(options);
  // variableGrads keys gradients by the tfjs variable name.
  const params = new Map(model.params.map((p) => [p.variable.name, p.variable]));
  const variables = model.params.map((p) => p.variable);
  const stepsPerEpoch = batchCount(data.count, batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  let summary: TrainSummary = { epochsCompleted: 0, finalLoss: NaN, finalAccuracy: NaN, resumedAfterEpoch: 0, history: [] };
  try {
    const saved = await options.checkpoints?.load();
    if (saved) summary = restoreTrainState(saved, model, sgd);
    if (summary.epochsCompleted > epochs) throw new Error(`the checkpoint is after epoch ${summary.epochsCompleted} of ${epochs}`);
    let step = summary.epochsCompleted * stepsPerEpoch;
    for (let epoch = summary.epochsCompleted; epoch < epochs; epoch++) {
      const learningRate = learningRateAt(options.schedule, epoch, epochs);
      const epochSeed = deriveSeed(options.seed, epoch);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      const epochStarted = performance.now();
      const augment = options.augmentation;
      const prepare = augment ? (clean: Batch) => augmentBatch(clean, augment, deriveSeed(epochSeed, EPOCH_SEED_SALTS.augmentation)) : undefined;
      await forEachBatch(data, { batchSize, shuffle: true, seed: epochSeed, prepare, signal }, async ({ x, labels, batch }) => {
        const stepCorrect = { value: undefined as tf.Scalar | undefined };
        const { value: loss, grads } = tf.tidy(() =>
          tf.variableGrads(() => {
            const logits = model.forward(x, { training: true, masks, dropoutSeed: deriveSeed(epochSeed, EPOCH_SEED_SALTS.dropout, step) });
            stepCorrect.value = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), labels)) as tf.Scalar);
            return crossEntropy(logits, labels);
          }, variables),
        );
        sgd.step(params, grads, learningRate);
        tf.dispose(grads);
        model.commitBatchStats();
        if (masks) applyMasks(model, masks);
        lossSum += (await loss.data())[0]! * batch.count;
        correct += (await stepCorrect.value!.data())[0]!;
        tf.dispose([loss, stepCorrect.value!]);
        seen += batch.count;
        step++;
        const imagesPerSecond = seen / ((performance.now() - epochStarted) / 1000);
        options.onProgress?.({ epoch, epochs, step, totalSteps, learningRate, imagesPerSecond, loss: lossSum / seen, accuracy: correct / seen });
      });
      const record = { epoch: epoch + 1, loss: lossSum / seen, accuracy: correct / seen, learningRate };
      summary = { ...summary, epochsCompleted: epoch + 1, finalLoss: record.loss, finalAccuracy: record.accuracy, history: [...summary.history, record] };
      if (options.checkpoints && epoch + 1 < epochs) await options.checkpoints.save(encodeTrainState(model, sgd, summary));
    }
  } finally {
    model.discardBatchStats();
    sgd.dispose();
  }
  return summary;
}
