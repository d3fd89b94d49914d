import {
  AttackService,
  EvaluationService,
  PruningService,
  QuantizationService,
  TrainingService,
  type AdversarialSetResult,
  type EvaluationResult,
  type JobInfo,
  type Progress,
  type PruneResult,
  type QuantizeResult,
  type TrainResult,
} from "@gap/proto";
import { addressesEnvVar, COMPUTE_SERVICES, createClient, type ComputeServiceName, type CallOptions } from "@gap/service-kit";
import { STEP_KINDS, type StepKind, type StepOutput, type StepRequest } from "./graph.js";

export type ServiceAddresses = Record<ComputeServiceName, string[]>;

export function addressesFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceAddresses {
  const entries = COMPUTE_SERVICES.map((name) => {
    const value = env[addressesEnvVar(name)];
    if (!value) throw new Error(`${addressesEnvVar(name)} is not set (comma-separated host:port of the ${name} service)`);
    return [name, value.split(",").map((a) => a.trim()).filter(Boolean)] as const;
  });
  return Object.fromEntries(entries) as ServiceAddresses;
}

/** Runs one step's RPC, streaming its progress, and reduces its result to a StepOutput. */
export type StepCaller = (
  kind: StepKind,
  request: StepRequest<StepKind>,
  options: CallOptions & { onProgress?: (progress: Progress) => void },
) => Promise<{ output: StepOutput; result: unknown }>;

export function createStepCaller(addresses: ServiceAddresses) {
  const clients = {
    training: createClient(TrainingService, addresses.training),
    attack: createClient(AttackService, addresses.attack),
    pruning: createClient(PruningService, addresses.pruning),
    quantization: createClient(QuantizationService, addresses.quantization),
    evaluation: createClient(EvaluationService, addresses.evaluation),
  };
  const streams: Record<StepKind, (request: never, options: CallOptions) => AsyncIterable<{ event: { case: string | undefined; value?: unknown } }>> = {
    train: (r, o) => clients.training.train(r, o),
    attack: (r, o) => clients.attack.generateAdversarialSet(r, o),
    prune: (r, o) => clients.pruning.prune(r, o),
    quantize: (r, o) => clients.quantization.quantize(r, o),
    evaluate: (r, o) => clients.evaluation.evaluate(r, o),
  };
  const call: StepCaller = async (kind, request, options) => {
    let result: unknown;
    for await (const message of streams[kind](request as never, options)) {
      if (message.event.case === "progress") options.onProgress?.(message.event.value as Progress);
      else if (message.event.case === "result") result = message.event.value;
    }
    if (result === undefined) throw new Error(`${STEP_KINDS[kind].service} ended the stream without a result`);
    return { output: toOutput(kind, result), result };
  };
  return { call, close: () => Object.values(clients).forEach((c) => c.close()) };
}

/** The part of each result the graph, the table and the report need. */
export function toOutput(kind: StepKind, result: unknown): StepOutput {
  return { ...countsOf(kind, result), job: (result as { job?: JobInfo }).job };
}

function countsOf(kind: StepKind, result: unknown): StepOutput {
  switch (kind) {
    case "train":
      return { artifact: (result as TrainResult).weights };
    case "attack": {
      const r = result as AdversarialSetResult;
      return { artifact: r.adversarialSet, correct: r.adversarialCorrect, total: r.count };
    }
    case "prune": {
      const r = result as PruneResult;
      return { artifact: r.mask, nonzeroParameters: Number(r.nonzeroParameters), sizeBytes: Number(r.sizeBytes) };
    }
    case "quantize": {
      const r = result as QuantizeResult;
      return { artifact: r.quantizedModel, sizeBytes: Number(r.sizeBytesAfter) };
    }
    case "evaluate": {
      const r = result as EvaluationResult;
      return { correct: Number(r.correct), total: Number(r.total), bothCorrect: Number(r.bothCorrect) };
    }
  }
}
