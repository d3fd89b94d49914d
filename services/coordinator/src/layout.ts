/**
 * Where everything the coordinator and the CLI keep lives in the store, in
 * one place. Step outputs and records are keyed by the hash of the step's
 * request, so the same request finds its result again.
 */
export const STORE_LAYOUT = {
  /** A finished step's result (JSON), the record that makes it cached. */
  stepRecord: (kind: string, requestHash: string) => `steps/${kind}/${requestHash}.json`,
  /** What a step writes (weights, masks, sets, quantized models). */
  stepOutput: (kind: string, requestHash: string, extension: string) => `artifacts/${kind}/${requestHash}.${extension}`,
  /** An experiment's spec, state and results. */
  experiment: (id: string) => `experiments/${id}`,
  experiments: "experiments/",
  /** The report folder of an experiment. */
  report: (id: string) => `experiments/${id}/report`,
  /** Files the CLI uploads, addressed by their content. */
  uploadedWeights: (sha256: string) => `inputs/weights/${sha256}.safetensors`,
  uploadedDataset: (sha256: string) => `inputs/datasets/${sha256}.safetensors`,
} as const;
