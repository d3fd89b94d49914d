import { ArtifactKind, AttackService, GenerateAdversarialSetRequestSchema } from "@gap/proto";
import { implement } from "@gap/service-kit";
import { adversarialSetCounts, encodeAdversarialSet, generateAdversarialSet } from "@gap/algorithms";
import {
  artifactRef,
  attackParameters,
  computeJob,
  derivedKey,
  loadDataset,
  modelConfig,
  outputKey,
  requiredRef,
  storeCheckpoints,
  withModel,
  type ComputeDeps,
} from "@gap/compute";

/** Attacks a split through a model and stores the adversarial set; a checkpoint about once a minute lets a retried call continue. */
export function attackService({ store, sources, queue }: ComputeDeps) {
  return implement(AttackService, {
    async *generateAdversarialSet(request, context) {
      const config = modelConfig(request.model, "model");
      const parameters = attackParameters(request.config, "config");
      requiredRef(request.weights, "weights", ArtifactKind.WEIGHTS);
      const key = outputKey(request.outputKey, () => derivedKey("adversarial", GenerateAdversarialSetRequestSchema, request));
      const source = await loadDataset(request.source, "source", sources, config);
      yield* computeJob("attack", queue, context, async (report) => {
        return withModel(store, config, { weights: request.weights, mask: request.mask }, async (model, masks) => {
          const checkpoints = storeCheckpoints(store, key);
          const set = await generateAdversarialSet(model, source, parameters, {
            masks,
            checkpoints,
            signal: context.signal,
            onProgress: (done, total) => report({ step: done, total, phase: "attack" }),
          });
          const stored = await store.put(key, encodeAdversarialSet(set));
          await checkpoints.clear();
          const counts = adversarialSetCounts(set);
          return {
            adversarialSet: artifactRef(stored, ArtifactKind.ADVERSARIAL_SET),
            count: counts.count,
            cleanCorrect: counts.cleanCorrect,
            adversarialCorrect: counts.adversarialCorrect,
          };
        });
      }, (result) => result.count); // adversarial images made
    },
  });
}
