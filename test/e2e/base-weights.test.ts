import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { Architecture, PruningScope, PruningStrategy, RunState, type ExperimentEvent } from "@gap/proto";
import { GapClient, type ExperimentSpecInit } from "@gap/client";
import { createArtifactStore } from "@gap/artifacts";
import { createModel, encodeSafetensors, saveWeights, stateDict, type SafeTensor } from "@gap/ml-core";
import { liveCluster } from "../support/live-cluster.js";
import { tinySpec } from "../support/tiny-spec.js";

const live = liveCluster("base-weights", { GAP_CONCURRENCY: "2" });
let client: GapClient;

beforeAll(async () => {
  client = new GapClient(live.cluster.coordinatorAddress);
});
afterAll(async () => {
  client?.close();
});

const cifar = (numClasses = 10) => ({ architecture: "resnet20" as const, numClasses, inputShape: { height: 32, width: 32, channels: 3 } });
/** A ResNet20 state dict as the project writes it (seeded, untrained). */
const resnet20 = (seed: number, numClasses = 10) => {
  const model = createModel(cifar(numClasses), seed);
  try {
    return { bytes: saveWeights(model), tensors: stateDict(model) };
  } finally {
    model.dispose();
  }
};

const specWith = (name: string, baseWeights: Array<{ architecture: Architecture; weights?: { key: string }; path?: string }>) =>
  ({ ...tinySpec(name), strategies: [{ strategy: PruningStrategy.MAGNITUDE, scope: PruningScope.GLOBAL }], baseWeights }) as ExperimentSpecInit;

async function upload(key: string, bytes: Uint8Array) {
  const stored = await createArtifactStore(live.s3.env).put(key, bytes);
  return { bucket: stored.bucket, key: stored.key };
}

async function startFailure(spec: ExperimentSpecInit): Promise<{ code: number; details: string }> {
  try {
    const { experimentId } = await client.start(spec);
    await client.cancel(experimentId);
  } catch (error) {
    return error as { code: number; details: string };
  }
  throw new Error("expected StartExperiment to fail");
}

describe("base weights: an experiment that starts from a trained model", () => {
  it("skips base training, runs every trial on the given weights, and keys the experiment by their sha256", async () => {
    const good = resnet20(7);
    const ref = await upload("uploads/good.safetensors", good.bytes);
    const spec = specWith("base-weights", [{ architecture: Architecture.RESNET20, weights: ref }]);
    const { experimentId, totalSteps } = await client.start(spec);
    const events: ExperimentEvent[] = [];
    const state = await client.wait(experimentId, (e) => events.push(e));
    expect(events.filter((e) => e.state === RunState.FAILED).map((e) => `${e.stepId}: ${e.message}`)).toEqual([]);
    expect(state).toBe(RunState.SUCCEEDED);
    const steps = new Set(events.filter((e) => e.stepId).map((e) => e.stepId));
    expect(steps.size).toBe(totalSteps);
    expect([...steps].filter((id) => id.endsWith("/train"))).toEqual([]); // no base training
    expect(steps.has("resnet20/t0/magnitude-global/p2/finetune")).toBe(true);
    const { rows } = await client.results(experimentId);
    expect(rows.find((r) => r.compressionRatio === 1 && !r.quantized)?.clean?.total).toBe(48n);

    // Other weights (one value changed) make another experiment; the same weights resume this one.
    const tensors = { ...good.tensors, "linear.bias": { ...good.tensors["linear.bias"]!, data: Float32Array.from(good.tensors["linear.bias"]!.data as Float32Array, (v, i) => (i === 0 ? v + 1 : v)) } };
    const other = await upload("uploads/other.safetensors", encodeSafetensors(tensors as Record<string, SafeTensor>));
    const second = await client.start(specWith("base-weights", [{ architecture: Architecture.RESNET20, weights: other }]));
    expect(second.experimentId).not.toBe(experimentId);
    await client.cancel(second.experimentId);
    expect((await client.start(spec)).experimentId).toBe(experimentId);
    expect(await client.wait(experimentId)).toBe(RunState.SUCCEEDED);
  });

  it("refuses weights that do not fit, naming the tensor and both shapes, the missing tensor, the dtype, or the truncation", async () => {
    const good = resnet20(1);
    const start = async (key: string, bytes: Uint8Array) =>
      startFailure(specWith("misfit", [{ architecture: Architecture.RESNET20, weights: await upload(key, bytes) }]));

    const wrongShape = await start("uploads/wide.safetensors", resnet20(1, 100).bytes);
    expect(wrongShape.code).toBe(status.FAILED_PRECONDITION);
    expect(wrongShape.details).toContain("spec.base_weights[0].weights: weights do not fit resnet20");
    expect(wrongShape.details).toContain("linear.weight: file has F32 [100, 64], model needs F32 [10, 64]");

    const { ["conv1.weight"]: _dropped, ...withoutConv1 } = good.tensors;
    const missing = await start("uploads/missing.safetensors", encodeSafetensors(withoutConv1 as Record<string, SafeTensor>));
    expect(missing).toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining("missing (1): conv1.weight") });

    const asF64 = { ...good.tensors, "conv1.weight": { dtype: "F64", shape: [16, 3, 3, 3], data: new Float64Array(432) } };
    const dtype = await start("uploads/f64.safetensors", encodeSafetensors(asF64 as Record<string, SafeTensor>));
    expect(dtype).toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining("conv1.weight: file has F64 [16, 3, 3, 3], model needs F32 [16, 3, 3, 3]") });

    const truncated = await start("uploads/truncated.safetensors", good.bytes.subarray(0, good.bytes.length - 1000));
    expect(truncated.code).toBe(status.FAILED_PRECONDITION);
    expect(truncated.details).toMatch(/^spec\.base_weights\[0\]\.weights: safetensors: \S+: data_offsets .* outside the data block/);

    const absent = await startFailure(specWith("absent", [{ architecture: Architecture.RESNET20, weights: { key: "uploads/none.safetensors" } }]));
    expect(absent.code).toBe(status.NOT_FOUND);
    const path = await startFailure(specWith("path", [{ architecture: Architecture.RESNET20, path: "/tmp/weights.safetensors" }]));
    expect(path).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("spec.base_weights[0].path") });
    const elsewhere = await startFailure(specWith("elsewhere", [{ architecture: Architecture.VGG_BN_DROP, weights: { key: "uploads/good.safetensors" } }]));
    expect(elsewhere).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("spec.base_weights[0].architecture") });
  });

  it("the CLI uploads a file named relative to the spec, and refuses a file that does not fit before any step runs", async () => {
    const work = mkdtempSync(join(tmpdir(), "gap-base-weights-cli-"));
    writeFileSync(join(work, "wide.safetensors"), resnet20(1, 100).bytes);
    const run = (weights: string) => {
      writeFileSync(
        join(work, "spec.yaml"),
        [
          "preset: quick",
          `name: base-weights`,
          "strategies: [{ strategy: PRUNING_STRATEGY_MAGNITUDE, scope: PRUNING_SCOPE_GLOBAL }]",
          `baseWeights: [{ architecture: ARCHITECTURE_RESNET20, path: ${weights} }]`,
        ].join("\n"),
      );
      return promisify(execFile)(process.execPath, ["--import", "tsx", "services/coordinator/src/cli.ts", "run"], {
        cwd: join(import.meta.dirname, "../.."),
        env: { PATH: process.env.PATH, ...live.s3.env, GAP_COORDINATOR_ADDRESS: live.cluster.coordinatorAddress, GAP_SPEC: join(work, "spec.yaml"), GAP_WORK_DIR: work },
        encoding: "utf8",
        timeout: 120_000,
      });
    };
    const refused = await run("wide.safetensors").then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain("linear.weight: file has F32 [100, 64], model needs F32 [10, 64]");
    expect(refused?.stdout).not.toContain("steps");

    const missingFile = await run("absent.safetensors").then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(missingFile?.stderr).toMatch(/spec\.base_weights\[0\]\.path: cannot read .*absent\.safetensors: ENOENT/);
  });
});
