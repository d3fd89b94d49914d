import * as tf from "@tensorflow/tfjs-core";
import {
  decodeSafetensors,
  deriveSeed,
  encodeSafetensors,
  everyMs,
  forEachBatch,
  type Checkpoints,
  type Dataset,
  withMaskTensors,
  type Masks,
  type MaskTensors,
  type Model,
} from "@gap/ml-core";
import type { Attack, AttackConfig } from "./attack.js";
import { Fgsm } from "./fgsm.js";
import { Pgd } from "./pgd.js";

export const ATTACKS = { pgd: new Pgd(), fgsm: new Fgsm() } as const;
export type AttackMethod = keyof typeof ATTACKS;

/** Everything needed to reproduce a set. */
export interface AttackParameters extends AttackConfig {
  method: AttackMethod;
  seed: number;
  batchSize: number;
}

/** Adversarial inputs made on a source model, with what that model made of them. */
export interface AdversarialSet extends Dataset {
  /** True labels of the source inputs (Dataset.labels). */
  labels: Int32Array;
  /** The source model's predictions on the clean inputs. */
  cleanPredictions: Int32Array;
  /** The source model's predictions on the adversarial inputs (for "both correct" on transfer). */
  adversarialPredictions: Int32Array;
  parameters: AttackParameters;
}

export interface GenerateOptions {
  masks?: Masks;
  /** The inputs attacked so far, saved about once a minute; a run that finds them attacks only the rest. */
  checkpoints?: Checkpoints;
  /** How often to save (default one minute). */
  checkpointEveryMs?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** The first `done` inputs of a set in the making, and the batches they took. */
function encodePartialSet(done: number, batches: number, images: Float32Array, imageSize: number, clean: Int32Array, attacked: Int32Array): Uint8Array {
  return encodeSafetensors(
    {
      images: { dtype: "F32", shape: [done * imageSize], data: images.subarray(0, done * imageSize) },
      clean_predictions: { dtype: "I32", shape: [done], data: clean.subarray(0, done) },
      adversarial_predictions: { dtype: "I32", shape: [done], data: attacked.subarray(0, done) },
    },
    { kind: "partial_adversarial_set", done: String(done), batches: String(batches) },
  );
}

/** Attacks every input of `data` through `model`, batch by batch, deterministically under the seed. */
export function generateAdversarialSet(model: Model, data: Dataset, parameters: AttackParameters, options: GenerateOptions = {}): Promise<AdversarialSet> {
  return withMaskTensors(model, options.masks, (masks) => attackMasked(model, data, parameters, options, masks));
}

async function attackMasked(model: Model, data: Dataset, parameters: AttackParameters, options: GenerateOptions, masks: MaskTensors | undefined): Promise<AdversarialSet> {
  if (!Object.hasOwn(ATTACKS, parameters.method)) throw new Error(`parameters.method: unknown attack "${String(parameters.method)}", expected ${Object.keys(ATTACKS).join(" or ")}`);
  const attack: Attack = ATTACKS[parameters.method];
  const images = new Float32Array(data.images.length);
  const cleanPredictions = new Int32Array(data.count);
  const adversarialPredictions = new Int32Array(data.count);
  const imageSize = data.height * data.width * data.channels;
  // Batches are in data set order and each one's random start depends only on its index, so
  // continuing after the saved batches gives the bits of an uninterrupted run.
  let startBatch = 0;
  const saved = await options.checkpoints?.load();
  if (saved) {
    const { tensors, metadata } = decodeSafetensors(saved);
    if (metadata.kind !== "partial_adversarial_set") throw new Error(`not an attack checkpoint (kind "${metadata.kind ?? ""}")`);
    startBatch = Number(metadata.batches);
    images.set(tensors.images!.data as Float32Array);
    cleanPredictions.set(tensors.clean_predictions!.data as Int32Array);
    adversarialPredictions.set(tensors.adversarial_predictions!.data as Int32Array);
  }
  const timeToSave = everyMs(options.checkpointEveryMs ?? 60_000);
  await forEachBatch(data, { batchSize: parameters.batchSize, startBatch, signal: options.signal, onProgress: options.onProgress }, async ({ x, labels: trueLabels, batch, index }) => {
    const [adversarial, clean, attacked] = tf.tidy(() => {
      const cleanPredicted = tf.argMax(model.forward(x, { training: false, masks }), 1) as tf.Tensor1D;
      const labels = parameters.labelMode === "true" ? trueLabels : cleanPredicted;
      const xAdv = attack.perturb({ model, masks, images: x, labels, seed: deriveSeed(parameters.seed, index) }, parameters);
      return [xAdv, cleanPredicted, tf.argMax(model.forward(xAdv, { training: false, masks }), 1)];
    });
    const first = batch.indices[0]!;
    images.set(await adversarial.data(), first * imageSize);
    cleanPredictions.set(await clean.data(), first);
    adversarialPredictions.set(await attacked.data(), first);
    tf.dispose([adversarial, clean, attacked]);
    const done = first + batch.count;
    if (options.checkpoints && done < data.count && timeToSave()) {
      await options.checkpoints.save(encodePartialSet(done, index + 1, images, imageSize, cleanPredictions, adversarialPredictions));
    }
  });
  return {
    images,
    labels: data.labels.slice(),
    count: data.count,
    height: data.height,
    width: data.width,
    channels: data.channels,
    numClasses: data.numClasses,
    cleanPredictions,
    adversarialPredictions,
    parameters,
  };
}

/** Exact counts of a set against its true labels. */
export function adversarialSetCounts(set: AdversarialSet) {
  let cleanCorrect = 0;
  let adversarialCorrect = 0;
  for (let i = 0; i < set.count; i++) {
    if (set.cleanPredictions[i] === set.labels[i]) cleanCorrect++;
    if (set.adversarialPredictions[i] === set.labels[i]) adversarialCorrect++;
  }
  return { count: set.count, cleanCorrect, adversarialCorrect };
}
