import { toJson } from "@bufbuild/protobuf";
import { sha256Hex } from "@gap/artifacts";
import { ArtifactKind, PruneRequestSchema, PruningService } from "@gap/proto";
import { implement, invalidArgument, numberInRange } from "@gap/service-kit";
import { masksFromScores, scoreParameters, ScoreCache, STRATEGIES } from "@gap/algorithms";
import { saveMasks, type Dataset } from "@gap/ml-core";
import {
  artifactRef,
  batchSizeOf,
  DEFAULT_BATCH_SIZE,
  derivedKey,
  isSet,
  loadAdversarialSet,
  loadDataset,
  loadModel,
  modelConfig,
  outputKey,
  requiredRef,
  seedOf,
  storeCheckpoints,
  strategyOf,
  variantOf,
  computeJob,
  type ComputeDeps,
} from "@gap/compute";

/** Scores kept between calls: up to 256 MiB (vgg_bn_drop's scores are 60 MB). */
const SCORE_CACHE_BYTES = 256 * 1024 * 1024;

/** Scores the prunable weights of a trained model and stores the masks (eqs. 1-4). */
export function pruningService({ store, sources, queue }: ComputeDeps) {
  const scoreCache = new ScoreCache(SCORE_CACHE_BYTES);
  return implement(PruningService, {
    async *prune(request, context) {
      const config = modelConfig(request.model, "model");
      const { strategy, scope } = strategyOf(request.strategy, "strategy");
      const compression = numberInRange(request.compressionRatio, "compression_ratio", 1, 1e6, { minExclusive: true });
      const variant = variantOf(request.variant, "variant");
      const seed = seedOf(request.seed, "seed");
      const batchSize = batchSizeOf(request.batchSize, "batch_size", DEFAULT_BATCH_SIZE.pruning);
      requiredRef(request.weights, "weights", ArtifactKind.WEIGHTS);
      const key = outputKey(request.outputKey, () => derivedKey("masks", PruneRequestSchema, request));
      let data: Dataset | undefined;
      if (strategy === "gradient") data = await loadDataset(request.scoringData, "scoring_data", sources, config);
      if (strategy === "gap" && !isSet(request.adversarialSet)) throw invalidArgument("adversarial_set.key", "GAP needs an adversarial set");

      yield* computeJob("pruning", queue, context, async (report) => {
        if (strategy === "gap") data = await loadAdversarialSet(store, request.adversarialSet, "adversarial_set", config.inputShape);
        const model = await loadModel(store, config, request.weights, "weights");
        try {
          const options = { strategy, scope, compression, variant, data, batchSize, seed };
          // Everything the scores depend on (not the ratio, and the scope only where it counts): the same
          // request at another ratio, or at the other scope, reuses them.
          const json = toJson(PruneRequestSchema, request) as { strategy: { strategy: string; scope?: string } };
          const scoresKey = JSON.stringify({
            ...json,
            strategy: STRATEGIES[strategy].scoresDependOnScope(variant) ? json.strategy : { strategy: json.strategy.strategy },
            compressionRatio: undefined,
            outputKey: undefined,
            weights: request.weights!.sha256 || request.weights!.key,
            adversarialSet: request.adversarialSet?.sha256 || request.adversarialSet?.key,
          });
          const scores = await scoreCache.get(scoresKey, async () => {
            const checkpoints = storeCheckpoints(store, `scores/${sha256Hex(scoresKey)}`);
            const onProgress = (done: number, total: number) => report({ step: done, total, phase: "score" });
            const computed = await scoreParameters(model, { ...options, checkpoints, signal: context.signal, onProgress });
            await checkpoints.clear();
            return computed;
          });
          const { masks, report: pruned } = (() => {
            try {
              return masksFromScores(model, scores, options);
            } catch (error) {
              if (error instanceof RangeError) throw invalidArgument("compression_ratio", error.message);
              throw error;
            }
          })();
          const bytes = saveMasks(model, masks, { strategy, scope, compression: String(compression), variant });
          const stored = await store.put(key, bytes);
          return {
            mask: artifactRef(stored, ArtifactKind.MASK),
            layers: pruned.layers.map((l) => ({ name: l.name, kept: BigInt(l.kept), total: BigInt(l.total), fraction: l.fraction })),
            totalParameters: BigInt(pruned.totalParameters),
            nonzeroParameters: BigInt(pruned.nonzeroParameters),
            sizeBytes: BigInt(pruned.sizeBytes),
            realizedCompression: pruned.realizedCompression,
          };
        } finally {
          model.dispose();
        }
      });
    },
  });
}
