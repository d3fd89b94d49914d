import * as tf from "@tensorflow/tfjs-core";
import {
  crossEntropyPerExample,
  decodeSafetensors,
  encodeSafetensors,
  everyMs,
  iterateBatches,
  throwIfAborted,
  yieldToEventLoop,
  type Checkpoints,
  type Dataset,
  type Model,
  type ParamEntry,
  type SafeTensor,
} from "@gap/ml-core";

export interface GradientSumOptions {
  /** Sum |∇L(x_i)| example by example (eq. 3) instead of the signed sum ∇Σ L(x_i) (eq. 4). */
  absolutePerExample: boolean;
  /** BatchNorm in training mode (the reference code) or eval mode (the paper's trained model). */
  training: boolean;
  /** Loss per batch: the sum over its examples (exact data sums) or the mean (the reference code). */
  reduction: "sum" | "mean";
  batchSize: number;
  /** Stop after this many batches (the reference code scores one batch). */
  maxBatches?: number;
  /** The sums so far, saved about once a minute; a run that finds them sums only the rest. */
  checkpoints?: Checkpoints;
  checkpointEveryMs?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Σ over the data of ∇_θ L(θ, x, y) for the given parameters, or of its
 * absolute value per example. The signed sum is linear, so it is computed
 * batch by batch from the summed loss; the absolute one needs one backward
 * pass per example.
 */
export async function sumGradients(
  model: Model,
  params: readonly ParamEntry[],
  data: Dataset,
  options: GradientSumOptions,
): Promise<Map<string, Float32Array>> {
  const variables = params.map((p) => p.variable);
  // Undefined until the first batch: its gradients start the sums (no zeros to upload and add).
  const sums: Array<tf.Tensor | undefined> = params.map(() => undefined);
  const batchSize = options.absolutePerExample ? 1 : options.batchSize;
  const total = Math.min(data.count, (options.maxBatches ?? Infinity) * batchSize);
  let done = 0;
  let batches = 0;
  const saved = await options.checkpoints?.load();
  if (saved) {
    // The sums continue in the same order, so the result has the bits of an uninterrupted run.
    const { tensors, metadata } = decodeSafetensors(saved);
    if (metadata.kind !== "partial_gradient_sums") throw new Error(`not a scoring checkpoint (kind "${metadata.kind ?? ""}")`);
    [done, batches] = [Number(metadata.done), Number(metadata.batches)];
    params.forEach((p, i) => (sums[i] = tf.keep(tf.tensor(tensors[p.name]!.data as Float32Array, p.variable.shape))));
  }
  const timeToSave = everyMs(options.checkpointEveryMs ?? 60_000);
  try {
    for (const batch of iterateBatches(data, { batchSize, startBatch: batches })) {
      if (batches++ === options.maxBatches) break;
      throwIfAborted(options.signal);
      tf.tidy(() => {
        const x = tf.tensor4d(batch.images, [batch.count, batch.height, batch.width, batch.channels]);
        const labels = tf.tensor1d(batch.labels, "int32");
        const { grads } = tf.variableGrads(() => {
          const perExample = crossEntropyPerExample(model.forward(x, { training: options.training }), labels);
          return (options.reduction === "sum" ? tf.sum(perExample) : tf.mean(perExample)) as tf.Scalar;
        }, variables);
        variables.forEach((variable, i) => {
          const g = grads[variable.name]!;
          const term = options.absolutePerExample ? tf.abs(g) : g;
          const previous = sums[i];
          sums[i] = tf.keep(previous ? tf.add(previous, term) : term);
          previous?.dispose();
        });
      });
      model.discardBatchStats();
      done += batch.count;
      options.onProgress?.(done, total);
      if (options.checkpoints && done < total && timeToSave()) {
        const partial: Record<string, SafeTensor> = {};
        for (const [i, p] of params.entries()) partial[p.name] = { dtype: "F32", shape: [p.variable.size], data: (await sums[i]!.data()) as Float32Array };
        await options.checkpoints.save(encodeSafetensors(partial, { kind: "partial_gradient_sums", done: String(done), batches: String(batches) }));
      }
      await yieldToEventLoop();
    }
    const result = new Map<string, Float32Array>();
    for (let i = 0; i < params.length; i++) {
      const sum = sums[i];
      result.set(params[i]!.name, sum ? ((await sum.data()) as Float32Array) : new Float32Array(params[i]!.variable.size));
    }
    return result;
  } finally {
    tf.dispose(sums.filter((s) => s !== undefined));
  }
}
