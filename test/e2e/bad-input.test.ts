import { describe, expect, it } from "vitest";
import { credentials, makeGenericClientConstructor, status, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import {
  Architecture,
  ArtifactKind,
  AttackService,
  CoordinatorService,
  DatasetName,
  EvaluationService,
  PruningScope,
  PruningService,
  PruningStrategy,
  PruningVariant,
  QuantizationService,
  Split,
  TrainingService,
} from "@gap/proto";
import { createClient, SERVICES, type CallOptions } from "@gap/service-kit";
import { createArtifactStore } from "@gap/artifacts";
import { encodeSafetensors } from "@gap/ml-core";
import { liveCluster } from "../support/live-cluster.js";
import { tinySpec } from "../support/tiny-spec.js";

const live = liveCluster("bad-input");

const model = { architecture: Architecture.RESNET20, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };
const data = { name: DatasetName.SYNTHETIC, split: Split.TRAIN, subsetSize: 8 };
const spec = tinySpec("bad-input");
const missing = { key: "nowhere/nothing.safetensors" };

/** Drains a unary or streaming call and returns its gRPC error. */
async function failure(call: Promise<unknown> | AsyncIterable<unknown>): Promise<{ code: number; details: string }> {
  try {
    if (Symbol.asyncIterator in call) for await (const _ of call);
    else await call;
  } catch (error) {
    return error as { code: number; details: string };
  }
  throw new Error("expected the call to fail");
}

describe("malformed requests get clear statuses and the services keep serving", () => {
  const deadline: CallOptions = { deadline: 60_000 };

  it("training", async () => {
    const client = createClient(TrainingService, live.cluster.addresses.training!);
    expect(await failure(client.train({}, deadline))).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^model: /) });
    const badBatch = await failure(client.train({ model, trainData: data, config: { ...spec.training, batchSize: 0 } }, deadline));
    expect(badBatch).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("config.batch_size") });
    const badArch = await failure(client.train({ model: { ...model, architecture: 99 as Architecture }, trainData: data, config: spec.training }, deadline));
    expect(badArch).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("model.architecture") });
    const noClasses = await failure(client.train({ model: { ...model, numClasses: 0 }, trainData: data, config: spec.training, fromScratch: true }, deadline));
    expect(noClasses).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^model\.num_classes: is required/) });
    // Nesterov with momentum not set: the momentum is what is wrong.
    const noMomentum = await failure(client.train({ model, trainData: data, config: { ...spec.training, momentum: 0, nesterov: true }, fromScratch: true }, deadline));
    expect(noMomentum).toMatchObject({ code: status.INVALID_ARGUMENT, details: "config.momentum: must be > 0 when nesterov is set" });
    expect(await failure(client.train({ model, trainData: data, config: spec.training, initialWeights: missing }, deadline))).toMatchObject({
      code: status.NOT_FOUND,
    });
    const store = createArtifactStore({ ...process.env, ...live.s3.env });
    const wrongMask = await store.put("test/wrong-mask.safetensors", encodeSafetensors({ "conv1.weight": { dtype: "U8", shape: [3], data: new Uint8Array(3) } }));
    const misfit = await failure(client.train({ model, trainData: data, config: spec.training, fromScratch: true, mask: { key: wrongMask.key } }, deadline));
    expect(misfit).toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining("mask") });
    const badKey = await failure(client.train({ model, trainData: data, config: spec.training, outputKey: "../escape" }, deadline));
    expect(badKey).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("output_key") });
    const tooMany = await failure(client.train({ model, trainData: { ...data, subsetSize: 10_000 }, config: spec.training }, deadline));
    expect(tooMany).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("train_data.subset_size") });
    // No weights: a seeded initialisation only when asked for, never by omission.
    const noWeights = await failure(client.train({ model, trainData: data, config: spec.training }, deadline));
    expect(noWeights).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^initial_weights\.key: is required/) });
    const both = await failure(client.train({ model, trainData: data, config: spec.training, fromScratch: true, initialWeights: missing }, deadline));
    expect(both).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^from_scratch: /) });
    const wrongKind = await failure(client.train({ model, trainData: data, config: spec.training, initialWeights: { ...missing, kind: ArtifactKind.MASK } }, deadline));
    expect(wrongKind).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^initial_weights\.kind: must be WEIGHTS, got MASK/) });
    client.close();
  });

  it("attack", async () => {
    const client = createClient(AttackService, live.cluster.addresses.attack!);
    expect((await failure(client.generateAdversarialSet({}, deadline))).code).toBe(status.INVALID_ARGUMENT);
    const badEps = await failure(client.generateAdversarialSet({ model, weights: missing, source: data, config: { ...spec.attack, eps: 0 } }, deadline));
    expect(badEps).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("config.eps") });
    expect((await failure(client.generateAdversarialSet({ model, weights: missing, source: data, config: spec.attack }, deadline))).code).toBe(
      status.NOT_FOUND,
    );
    // batch_size not set is its default (128), not an error: the call gets as far as the missing weights.
    expect((await failure(client.generateAdversarialSet({ model, weights: missing, source: data, config: { ...spec.attack, batchSize: 0 } }, deadline))).code).toBe(
      status.NOT_FOUND,
    );
    const bigBatch = await failure(client.generateAdversarialSet({ model, weights: missing, source: data, config: { ...spec.attack, batchSize: 5000 } }, deadline));
    expect(bigBatch).toMatchObject({ code: status.INVALID_ARGUMENT, details: "config.batch_size: must be an integer in [1, 4096], got 5000" });
    const noWeights = await failure(client.generateAdversarialSet({ model, source: data, config: spec.attack }, deadline));
    expect(noWeights).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^weights\.key: is required/) });
    client.close();
  });

  it("pruning", async () => {
    const client = createClient(PruningService, live.cluster.addresses.pruning!);
    const base = { model, weights: missing, compressionRatio: 2, variant: PruningVariant.PAPER };
    expect((await failure(client.prune({}, deadline))).code).toBe(status.INVALID_ARGUMENT);
    const randomLayer = await failure(client.prune({ ...base, strategy: { strategy: PruningStrategy.RANDOM, scope: PruningScope.LAYER } }, deadline));
    expect(randomLayer).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("strategy.scope") });
    const magnitude = { strategy: PruningStrategy.MAGNITUDE, scope: PruningScope.GLOBAL };
    const ratio = await failure(client.prune({ ...base, strategy: magnitude, compressionRatio: 0.5 }, deadline));
    expect(ratio).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("compression_ratio") });
    const gapWithoutSet = await failure(client.prune({ ...base, strategy: { strategy: PruningStrategy.GAP, scope: PruningScope.GLOBAL } }, deadline));
    expect(gapWithoutSet).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("adversarial_set") });
    expect((await failure(client.prune({ ...base, strategy: magnitude }, deadline))).code).toBe(status.NOT_FOUND);
    client.close();
  });

  it("quantization", async () => {
    const client = createClient(QuantizationService, live.cluster.addresses.quantization!);
    expect((await failure(client.quantize({}, deadline))).code).toBe(status.INVALID_ARGUMENT);
    const bits = await failure(client.quantize({ model, weights: missing, config: { bits: 4, perChannel: true, calibrationSize: 8 }, calibrationData: data }, deadline));
    expect(bits).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("config.bits") });
    // bits not set is 8: the call gets as far as the missing weights.
    expect((await failure(client.quantize({ model, weights: missing, config: { perChannel: true, calibrationSize: 8 }, calibrationData: data }, deadline))).code).toBe(
      status.NOT_FOUND,
    );
    client.close();
  });

  it("evaluation", async () => {
    const client = createClient(EvaluationService, live.cluster.addresses.evaluation!);
    expect((await failure(client.evaluate({}, deadline))).code).toBe(status.INVALID_ARGUMENT);
    const split = await failure(client.evaluate({ model, weights: missing, dataset: { ...data, split: Split.UNSPECIFIED } }, deadline));
    expect(split).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("dataset.split") });
    // batch_size not set is its default (256), as the attack's is.
    expect((await failure(client.evaluate({ model, weights: missing, dataset: data, batchSize: 0 }, deadline))).code).toBe(status.NOT_FOUND);
    const bigBatch = await failure(client.evaluate({ model, weights: missing, dataset: data, batchSize: 5000 }, deadline));
    expect(bigBatch).toMatchObject({ code: status.INVALID_ARGUMENT, details: "batch_size: must be an integer in [1, 4096], got 5000" });
    expect((await failure(client.evaluate({ model, weights: missing, adversarialSet: missing }, deadline))).code).toBe(status.NOT_FOUND);
    const badKey = await failure(client.evaluate({ model, weights: { key: "models/../escape" }, dataset: data }, deadline));
    expect(badKey).toMatchObject({ code: status.INVALID_ARGUMENT, details: "weights.key: the key has a '..' segment" });
    const noWeights = await failure(client.evaluate({ model, dataset: data }, deadline));
    expect(noWeights).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^weights\.key: is required/) });
    const float = await failure(client.evaluate({ model, weights: { ...missing, kind: ArtifactKind.WEIGHTS }, quantized: true, dataset: data }, deadline));
    expect(float).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^weights\.kind: must be QUANTIZED_MODEL, got WEIGHTS/) });
    client.close();
  });

  it("coordinator", async () => {
    const client = createClient(CoordinatorService, live.cluster.coordinatorAddress);
    expect(await failure(client.startExperiment({}, deadline))).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^spec: /) });
    const noRatios = await failure(client.startExperiment({ spec: { ...spec, compressionRatios: [] } }, deadline));
    expect(noRatios).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("spec.compression_ratios") });
    const badScope = await failure(
      client.startExperiment({ spec: { ...spec, strategies: [{ strategy: PruningStrategy.RANDOM, scope: PruningScope.LAYER }] } as typeof spec }, deadline),
    );
    expect(badScope.details).toContain("spec.strategies[0].scope");
    expect((await failure(client.watchExperiment({ experimentId: "nope" }, deadline))).code).toBe(status.NOT_FOUND);
    expect((await failure(client.getResults({ experimentId: "nope" }, deadline))).code).toBe(status.NOT_FOUND);
    expect((await failure(client.cancelExperiment({ experimentId: "" }, deadline))).code).toBe(status.INVALID_ARGUMENT);
    client.close();
  });

  it("every service still answers its health check", async () => {
    const Health = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
    const targets: Array<[string, string]> = [
      ...Object.entries(live.cluster.addresses).map(([name, [address]]) => [SERVICES[name as keyof typeof SERVICES].grpcService, address!] as [string, string]),
      [SERVICES.coordinator.grpcService, live.cluster.coordinatorAddress],
    ];
    for (const [name, address] of targets) {
      const health = new Health(address, credentials.createInsecure()) as Client & Record<string, Function>;
      const reply = await new Promise<{ status: string }>((resolve, reject) =>
        health.Check({ service: name }, (error: Error | null, r: { status: string }) => (error ? reject(error) : resolve(r))),
      );
      expect(reply.status).toBe("SERVING");
      health.close();
    }
  });
});
