import { readFileSync } from "node:fs";
import { clone, create } from "@bufbuild/protobuf";
import { ArtifactKind, BaseWeightsSchema, ExperimentSpecSchema, type ExperimentSpec } from "@gap/proto";
import { invalidArgument } from "@gap/service-kit";
import { sha256Hex, type ArtifactStore } from "@gap/artifacts";
import { artifactRef } from "@gap/compute/no-tf";
import type { WeightsChecker } from "./clients.js";
import { STORE_LAYOUT } from "./layout.js";

/**
 * The coordinator's side: has every base-weights entry checked against its
 * model (by the training service) and returns the spec with complete refs
 * (bucket, sha256, size, kind), so that the experiment id and every step hash
 * follow the weights' bytes.
 */
export async function resolveBaseWeights(check: WeightsChecker, spec: ExperimentSpec): Promise<ExperimentSpec> {
  if (spec.baseWeights.length === 0) return spec;
  const resolved = clone(ExperimentSpecSchema, spec);
  for (const [i, entry] of resolved.baseWeights.entries()) {
    const field = `spec.base_weights[${i}]`;
    if (entry.path !== "") throw invalidArgument(`${field}.path`, "is read and uploaded by the CLI; the coordinator takes weights (a reference into the store)");
    const model = { architecture: entry.architecture, numClasses: spec.numClasses, inputShape: spec.inputShape };
    resolved.baseWeights[i] = create(BaseWeightsSchema, { architecture: entry.architecture, weights: await check(model, entry.weights, field) });
  }
  return resolved;
}


/**
 * The CLI's side: reads every base-weights file the spec names (loadSpec
 * made the paths absolute), uploads it to the store and puts its reference in
 * place of the path. The coordinator checks the contents.
 */
export async function uploadBaseWeights(store: ArtifactStore, spec: ExperimentSpec): Promise<ExperimentSpec> {
  if (!spec.baseWeights.some((entry) => entry.path !== "")) return spec;
  const uploaded = clone(ExperimentSpecSchema, spec);
  for (const [i, entry] of uploaded.baseWeights.entries()) {
    if (entry.path === "") continue;
    const path = entry.path;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw invalidArgument(`spec.base_weights[${i}].path`, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const stored = await store.put(STORE_LAYOUT.uploadedWeights(sha256Hex(bytes)), bytes, { contentType: "application/octet-stream" });
    uploaded.baseWeights[i] = create(BaseWeightsSchema, { architecture: entry.architecture, weights: artifactRef(stored, ArtifactKind.WEIGHTS) });
  }
  return uploaded;
}
