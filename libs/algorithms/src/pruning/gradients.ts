import * as tf from "@tensorflow/tfjs-core";
import {
  batchCount,
  crossEntropyPerExample,
  decodeSafetensors,
  encodeSafetensors,
  everyMs,
  forEachBatch,
  type Checkpoints,
  type Dataset,
  type Model,
  type ParamEntry,
  type SafeTensor,
} from "@gap/ml-core";

export interface GradientSumOptions {
  /** BatchNorm in training mode or in eval mode. */
  training: boolean;
  /** Loss per batch: the sum over its examples or their mean. */
  reduction: "sum" | "mean";
  batchSize: number;
  /** Applied to each batch's gradient before it is added (e.g. tf.abs); default: as it is. */
  eachBatch?: (gradient: tf.Tensor) => tf.Tensor;
  /** Stop after this many batches. */
  maxBatches?: number;
  /** The sums so far, saved about once a minute; a run that finds them sums only the rest. */
  checkpoints?: Checkpoints;
  checkpointEveryMs?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Σ over the batches of the data of eachBatch(∇_θ L(θ, batch)) for the given
 * parameters, where L is the batch's summed or mean loss. Sums continue from
 * a checkpoint in the same order, so a resumed run has the bits of an
 * uninterrupted one.
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
  let startBatch = 0;
  const saved = await options.checkpoints?.load();
  if (saved) {
    const { tensors, metadata } = decodeSafetensors(saved);
    if (metadata.kind !== "partial_gradient_sums") throw new Error(`not a scoring checkpoint (kind "${metadata.kind ?? ""}")`);
    startBatch = Number(metadata.batches);
    params.forEach((p, i) => (sums[i] = tf.keep(tf.tensor(tensors[p.name]!.data as Float32Array, p.variable.shape))));
  }
  const timeToSave = everyMs(options.checkpointEveryMs ?? 60_000);
  const lastBatch = Math.min(batchCount(data.count, options.batchSize), options.maxBatches ?? Infinity) - 1;
  try {
    await forEachBatch(data, { ...options, startBatch }, async ({ x, labels, index }) => {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const perExample = crossEntropyPerExample(model.forward(x, { training: options.training }), labels);
          return (options.reduction === "sum" ? tf.sum(perExample) : tf.mean(perExample)) as tf.Scalar;
        }, variables);
        variables.forEach((variable, i) => {
          const term = options.eachBatch ? options.eachBatch(grads[variable.name]!) : grads[variable.name]!;
          const previous = sums[i];
          sums[i] = tf.keep(previous ? tf.add(previous, term) : term);
          previous?.dispose();
        });
      });
      model.discardBatchStats();
      if (options.checkpoints && index < lastBatch && timeToSave()) {
        const partial: Record<string, SafeTensor> = {};
        for (const [i, p] of params.entries()) partial[p.name] = { dtype: "F32", shape: [p.variable.size], data: (await sums[i]!.data()) as Float32Array };
        await options.checkpoints.save(encodeSafetensors(partial, { kind: "partial_gradient_sums", batches: String(index + 1) }));
      }
    });
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
