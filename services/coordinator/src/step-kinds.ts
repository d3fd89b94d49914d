import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  AdversarialSetResultSchema,
  AttackService,
  EvaluateRequestSchema,
  EvaluationResultSchema,
  EvaluationService,
  GenerateAdversarialSetRequestSchema,
  PruneRequestSchema,
  PruneResultSchema,
  PruningService,
  QuantizationService,
  QuantizeRequestSchema,
  QuantizeResultSchema,
  TrainingService,
  TrainRequestSchema,
  TrainResultSchema,
  type ArtifactRef,
  type EpochMetrics,
  type JobInfo,
} from "@gap/proto";
import { createClient, type CallOptions, type ClientOptions, type TypedClient } from "@gap/service-kit";

/** What a finished step hands to the steps after it and to the result table. */
export interface StepOutput {
  /** The artifact the step wrote (weights, set, mask, quantized model); none for evaluations. */
  artifact?: ArtifactRef;
  /** Counts for the result table. */
  correct?: number;
  total?: number;
  bothCorrect?: number;
  nonzeroParameters?: number;
  /** Prune steps: every parameter of the unpruned model, prunable or not. */
  totalParameters?: number;
  sizeBytes?: number;
  /** Where the job ran and how long it took (kept with cached results). */
  job?: JobInfo;
  /** Training and fine-tuning: every epoch's metrics. */
  history?: EpochMetrics[];
}

/** A client per compute service (its replicas behind it). */
export interface ServiceClients {
  training: TypedClient<typeof TrainingService>;
  attack: TypedClient<typeof AttackService>;
  pruning: TypedClient<typeof PruningService>;
  quantization: TypedClient<typeof QuantizationService>;
  evaluation: TypedClient<typeof EvaluationService>;
}

export function createServiceClients(addresses: Record<keyof ServiceClients, readonly string[]>, options: ClientOptions = {}): ServiceClients {
  return {
    training: createClient(TrainingService, addresses.training, options),
    attack: createClient(AttackService, addresses.attack, options),
    pruning: createClient(PruningService, addresses.pruning, options),
    quantization: createClient(QuantizationService, addresses.quantization, options),
    evaluation: createClient(EvaluationService, addresses.evaluation, options),
  };
}

type Stream = AsyncIterable<{ event: { case: string | undefined; value?: unknown } }>;

/**
 * Everything a kind of step is, in one place: the service and RPC it calls,
 * its request and result messages, what its output artifact is stored as,
 * and the part of its result that the graph, the table and the report use.
 */
export const STEP_KINDS = {
  train: {
    service: "training",
    request: TrainRequestSchema,
    result: TrainResultSchema,
    extension: "safetensors",
    call: (c: ServiceClients, request: never, options: CallOptions): Stream => c.training.train(request, options),
    output: (r: MessageInitShape<typeof TrainResultSchema>): StepOutput => ({ artifact: r.weights as ArtifactRef, history: r.history as EpochMetrics[] }),
  },
  attack: {
    service: "attack",
    request: GenerateAdversarialSetRequestSchema,
    result: AdversarialSetResultSchema,
    extension: "safetensors",
    call: (c: ServiceClients, request: never, options: CallOptions): Stream => c.attack.generateAdversarialSet(request, options),
    output: (r: MessageInitShape<typeof AdversarialSetResultSchema>): StepOutput => ({ artifact: r.adversarialSet as ArtifactRef, correct: r.adversarialCorrect, total: r.count }),
  },
  prune: {
    service: "pruning",
    request: PruneRequestSchema,
    result: PruneResultSchema,
    extension: "safetensors",
    call: (c: ServiceClients, request: never, options: CallOptions): Stream => c.pruning.prune(request, options),
    output: (r: MessageInitShape<typeof PruneResultSchema>): StepOutput => ({
      artifact: r.mask as ArtifactRef,
      nonzeroParameters: Number(r.nonzeroParameters),
      totalParameters: Number(r.totalParameters),
      sizeBytes: Number(r.sizeBytes),
    }),
  },
  quantize: {
    service: "quantization",
    request: QuantizeRequestSchema,
    result: QuantizeResultSchema,
    extension: "safetensors",
    call: (c: ServiceClients, request: never, options: CallOptions): Stream => c.quantization.quantize(request, options),
    // The kept weights' size, as the fp32 rows count theirs; absent in results stored before it existed.
    output: (r: MessageInitShape<typeof QuantizeResultSchema>): StepOutput => ({
      artifact: r.quantizedModel as ArtifactRef,
      sizeBytes: r.keptSizeBytesAfter ? Number(r.keptSizeBytesAfter) : undefined,
    }),
  },
  evaluate: {
    service: "evaluation",
    request: EvaluateRequestSchema,
    result: EvaluationResultSchema,
    extension: "json",
    call: (c: ServiceClients, request: never, options: CallOptions): Stream => c.evaluation.evaluate(request, options),
    output: (r: MessageInitShape<typeof EvaluationResultSchema>): StepOutput => ({ correct: Number(r.correct), total: Number(r.total), bothCorrect: Number(r.bothCorrect) }),
  },
} as const;
export type StepKind = keyof typeof STEP_KINDS;
export type StepRequest<K extends StepKind> = MessageInitShape<(typeof STEP_KINDS)[K]["request"]>;

/** The part of a step's result the graph, the table and the report need, with where the job ran. */
export function toOutput(kind: StepKind, result: unknown): StepOutput {
  return { ...STEP_KINDS[kind].output(result as never), job: (result as { job?: JobInfo }).job };
}
