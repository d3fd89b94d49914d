import { ArtifactKind, type EvaluateRequest } from "@gap/proto";
import { failedPrecondition } from "@gap/service-kit";
import type { ArtifactStore } from "@gap/artifacts";
import type { Model, ModelConfig } from "@gap/ml-core";
import { decodeQuantizedModel, simulatedQuantizedModel } from "@gap/algorithms";
import { loadModel, readArtifact } from "@gap/compute";

/**
 * The float model, or (quantized) the simulated int8 one: the quantized model artifact
 * loaded into the architecture with its activations fake-quantized at every point.
 */
export async function loadEvaluableModel(store: ArtifactStore, config: ModelConfig, request: EvaluateRequest): Promise<Model> {
  if (!request.quantized) return loadModel(store, config, request.weights, "weights");
  const bytes = await readArtifact(store, request.weights, "weights", ArtifactKind.QUANTIZED_MODEL);
  try {
    return simulatedQuantizedModel(config, decodeQuantizedModel(bytes));
  } catch (error) {
    throw failedPrecondition(`weights: ${(error as Error).message}`);
  }
}
