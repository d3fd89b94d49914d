import { ArtifactKind, EvaluationService } from "@gap/proto";
import { implement } from "@gap/service-kit";
import { transferAccuracy } from "@gap/algorithms";
import { evaluate, type Dataset } from "@gap/ml-core";
import { batchSizeOf, DEFAULT_BATCH_SIZE, isSet, loadAdversarialSet, loadDataset, modelConfig, requiredRef, withModel, computeJob, type ComputeDeps } from "@gap/compute";
import { loadEvaluableModel } from "./evaluable-model.js";

/** Top-1 accuracy and loss with exact counts, on clean data or an adversarial set. */
export function evaluationService({ store, sources, queue }: ComputeDeps) {
  return implement(EvaluationService, {
    async *evaluate(request, context) {
      const config = modelConfig(request.model, "model");
      requiredRef(request.weights, "weights", request.quantized ? ArtifactKind.QUANTIZED_MODEL : ArtifactKind.WEIGHTS);
      const batchSize = batchSizeOf(request.batchSize, "batch_size", DEFAULT_BATCH_SIZE.evaluation);
      const adversarial = isSet(request.adversarialSet);
      const clean: Dataset | undefined = adversarial ? undefined : await loadDataset(request.dataset, "dataset", sources, config);
      yield* computeJob("evaluation", queue, context, async (report) => {
        const set = adversarial ? await loadAdversarialSet(store, request.adversarialSet, "adversarial_set", config.inputShape) : undefined;
        const load = () => loadEvaluableModel(store, config, request);
        return withModel(store, config, { weights: request.weights, mask: request.mask, load }, async (model, masks) => {
          const counts = await evaluate(model, (set ?? clean)!, {
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
        });
      }, (result) => Number(result.total));
    },
  });
}
