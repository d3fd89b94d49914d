import * as tf from "@tensorflow/tfjs-core";
import {
  decodeSafetensors,
  deriveSeed,
  encodeSafetensors,
  everyMs,
  iterateBatches,
  throwIfAborted,
  yieldToEventLoop,
  type Checkpoints,
  type Dataset,
  type Masks,
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
export async function generateAdversarialSet(
  model: Model,
  data: Dataset,
  parameters: AttackParameters,
  options: GenerateOptions = {},
): Promise<AdversarialSet> {
  const attack: Attack = ATTACKS[parameters.method];
  const images = new Float32Array(data.images.length);
  const cleanPredictions = new Int32Array(data.count);
  const adversarialPredictions = new Int32Array(data.count);
  const imageSize = data.height * data.width * data.channels;
  let done = 0;
  let batchIndex = 0;
  // Batches are in data set order and each one's random start depends only on its index, so
  // continuing after the saved batches gives the bits of an uninterrupted run.
  const saved = await options.checkpoints?.load();
  if (saved) {
    const { tensors, metadata } = decodeSafetensors(saved);
    if (metadata.kind !== "partial_adversarial_set") throw new Error(`not an attack checkpoint (kind "${metadata.kind ?? ""}")`);
    done = Number(metadata.done);
    batchIndex = Number(metadata.batches);
    images.set(tensors.images!.data as Float32Array);
    cleanPredictions.set(tensors.clean_predictions!.data as Int32Array);
    adversarialPredictions.set(tensors.adversarial_predictions!.data as Int32Array);
  }
  const timeToSave = everyMs(options.checkpointEveryMs ?? 60_000);
  for (const batch of iterateBatches(data, { batchSize: parameters.batchSize, startBatch: batchIndex })) {
    throwIfAborted(options.signal);
    const [adversarial, clean, attacked] = tf.tidy(() => {
      const x = tf.tensor4d(batch.images, [batch.count, batch.height, batch.width, batch.channels]);
      const cleanPredicted = tf.argMax(model.forward(x, { training: false, masks: options.masks }), 1) as tf.Tensor1D;
      const labels = parameters.labelMode === "true" ? tf.tensor1d(batch.labels, "int32") : cleanPredicted;
      const seed = deriveSeed(parameters.seed, batchIndex);
      const xAdv = attack.perturb({ model, masks: options.masks, images: x, labels, seed }, parameters);
      return [xAdv, cleanPredicted, tf.argMax(model.forward(xAdv, { training: false, masks: options.masks }), 1)];
    });
    images.set(await adversarial.data(), batch.indices[0]! * imageSize);
    cleanPredictions.set(await clean.data(), batch.indices[0]!);
    adversarialPredictions.set(await attacked.data(), batch.indices[0]!);
    tf.dispose([adversarial, clean, attacked]);
    batchIndex++;
    done += batch.count;
    options.onProgress?.(done, data.count);
    if (options.checkpoints && done < data.count && timeToSave()) {
      await options.checkpoints.save(encodePartialSet(done, batchIndex, images, imageSize, cleanPredictions, adversarialPredictions));
    }
    await yieldToEventLoop();
  }
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
