import * as tf from "@tensorflow/tfjs-core";
import { EvaluationService } from "@gap/proto";
import { implement, streamJob } from "@gap/service-kit";
import { transferAccuracy } from "@gap/algorithms";
import { evaluate, type Dataset } from "@gap/ml-core";
import { batchSizeOf, isSet, loadAdversarialSet, loadDataset, loadMaskArtifact, loadModel, modelConfig, type ComputeDeps } from "@gap/compute";
import { loadEvaluableModel } from "./evaluable-model.js";

/** Top-1 accuracy and loss with exact counts, on clean data or an adversarial set. */
export function evaluationService({ store, sources, queue }: ComputeDeps) {
  return implement(EvaluationService, {
    async *evaluate(request, context) {
      const config = modelConfig(request.model, "model");
      const batchSize = batchSizeOf(request.batchSize, "batch_size", 256);
      const adversarial = isSet(request.adversarialSet);
      const clean: Dataset | undefined = adversarial ? undefined : await loadDataset(request.dataset, "dataset", sources, config.inputShape);
      yield* streamJob(queue, context, async (report) => {
        const set = adversarial ? await loadAdversarialSet(store, request.adversarialSet, "adversarial_set", config.inputShape) : undefined;
        const model = await loadEvaluableModel(store, config, request);
        const masks = await loadMaskArtifact(store, model, request.mask, "mask").catch((error) => {
          model.dispose();
          throw error;
        });
        try {
          const data = (set ?? clean)!;
          const counts = await evaluate(model, data, {
            batchSize,
            masks,
            signal: context.signal,
            onProgress: (done, total) => report({ step: done, total, phase: "evaluate" }),
          });
          return {
            correct: BigInt(counts.correct),
            total: BigInt(counts.total),
            accuracy: counts.accuracy,
            loss: counts.loss,
            bothCorrect: set ? BigInt(transferAccuracy(set, counts.predictions).bothCorrect) : 0n,
          };
        } finally {
          tf.dispose([...(masks?.values() ?? [])]);
          model.dispose();
        }
      });
    },
  });
}
