import type { EvaluateRequest } from "@gap/proto";
import { failedPrecondition } from "@gap/service-kit";
import type { ArtifactStore } from "@gap/artifacts";
import type { Model, ModelConfig } from "@gap/ml-core";
import { loadModel } from "@gap/compute";

/** The float model, or (quantized) the simulated int8 one. */
export async function loadEvaluableModel(store: ArtifactStore, config: ModelConfig, request: EvaluateRequest): Promise<Model> {
  if (request.quantized) throw failedPrecondition("quantized evaluation is not available yet");
  return loadModel(store, config, request.weights, "weights");
}
