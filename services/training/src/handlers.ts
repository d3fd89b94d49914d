import { ArtifactKind, TrainingService, TrainRequestSchema } from "@gap/proto";
import { implement, invalidArgument } from "@gap/service-kit";
import { saveWeights, train } from "@gap/ml-core";
import {
  artifactRef,
  checkWeightsArtifact,
  computeJob,
  derivedKey,
  isSet,
  loadDataset,
  modelConfig,
  outputKey,
  requiredRef,
  storeCheckpoints,
  trainOptions,
  withModel,
  type ComputeDeps,
} from "@gap/compute";

/**
 * Trains from scratch, or fine-tunes under a mask, and stores the weights; a checkpoint after every
 * epoch lets a retried call continue. Checks stored weights against a model (the coordinator's
 * base weights, which it cannot check itself without TensorFlow.js).
 */
export function trainingService({ store, sources, queue }: ComputeDeps) {
  return implement(TrainingService, {
    async *train(request, context) {
      const config = modelConfig(request.model, "model");
      const options = trainOptions(request.config, "config");
      const key = outputKey(request.outputKey, () => derivedKey("weights", TrainRequestSchema, request));
      const data = await loadDataset(request.trainData, "train_data", sources, config);
      // A seeded initialisation only when asked for: a forgotten reference must not train a random model.
      if (request.fromScratch && isSet(request.initialWeights)) throw invalidArgument("from_scratch", "must be false when initial_weights is given");
      if (!request.fromScratch) requiredRef(request.initialWeights, "initial_weights", ArtifactKind.WEIGHTS);
      const refs = { weights: request.initialWeights, weightsField: "initial_weights", mask: request.mask, fromScratch: request.fromScratch ? { seed: options.seed } : undefined };
      yield* computeJob("training", queue, context, async (report) => {
        return withModel(store, config, refs, async (model, masks) => {
          const checkpoints = storeCheckpoints(store, key);
          const summary = await train(model, data, {
            ...options,
            masks,
            checkpoints,
            signal: context.signal,
            onProgress: (p) =>
              report({
                step: p.step,
                total: p.totalSteps,
                phase: "train",
                metrics: { epoch: p.epoch + 1, epochs: p.epochs, loss: p.loss, accuracy: p.accuracy, lr: p.learningRate, images_per_second: p.imagesPerSecond },
              }),
          });
          const stored = await store.put(key, saveWeights(model, { architecture: config.architecture, epochs: String(summary.epochsCompleted) }));
          await checkpoints.clear();
          return {
            resumedAfterEpoch: summary.resumedAfterEpoch,
            history: summary.history,
            weights: artifactRef(stored, ArtifactKind.WEIGHTS),
            epochsCompleted: summary.epochsCompleted,
            finalTrainLoss: summary.finalLoss,
            finalTrainAccuracy: summary.finalAccuracy,
          };
        });
      }, (result) => data.count * (result.epochsCompleted - result.resumedAfterEpoch)); // images x epochs run in this call
    },
    async checkWeights(request) {
      return { weights: await checkWeightsArtifact(store, modelConfig(request.model, "model"), request.weights, "weights") };
    },
  });
}
