import { ArtifactKind, TrainingService, TrainRequestSchema } from "@gap/proto";
import { implement } from "@gap/service-kit";
import { saveWeights, train } from "@gap/ml-core";
import { artifactRef, derivedKey, loadDataset, modelConfig, outputKey, trainOptions, withModel, computeJob, type ComputeDeps } from "@gap/compute";

/** Trains from scratch, or fine-tunes under a mask, and stores the weights. */
export function trainingService({ store, sources, queue }: ComputeDeps) {
  return implement(TrainingService, {
    async *train(request, context) {
      const config = modelConfig(request.model, "model");
      const options = trainOptions(request.config, "config");
      const key = outputKey(request.outputKey, () => derivedKey("weights", TrainRequestSchema, request));
      const data = await loadDataset(request.trainData, "train_data", sources, config.inputShape);
      yield* computeJob("training", queue, context, async (report) => {
        return withModel(store, config, { weights: request.initialWeights, mask: request.mask, seed: options.seed }, async (model, masks) => {
          const summary = await train(model, data, {
            ...options,
            masks,
            signal: context.signal,
            onProgress: (p) =>
              report({ step: p.step, total: p.totalSteps, phase: "train", metrics: { epoch: p.epoch + 1, loss: p.loss, accuracy: p.accuracy, lr: p.learningRate } }),
          });
          const stored = await store.put(key, saveWeights(model, { architecture: config.architecture, epochs: String(summary.epochsCompleted) }));
          return {
            weights: artifactRef(stored, ArtifactKind.WEIGHTS),
            epochsCompleted: summary.epochsCompleted,
            finalTrainLoss: summary.finalLoss,
            finalTrainAccuracy: summary.finalAccuracy,
          };
        });
      });
    },
  });
}
