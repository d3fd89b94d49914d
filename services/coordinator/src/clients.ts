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
import { addressesEnvVar, COMPUTE_SERVICES, ConfigError, createClient, status, type ComputeServiceName, type CallOptions } from "@gap/service-kit";
import { STEP_KINDS, type StepKind, type StepOutput, type StepRequest } from "./graph.js";

export type ServiceAddresses = Record<ComputeServiceName, string[]>;

/** Each compute service's replicas, from GAP_<SERVICE>_ADDRESSES (comma-separated host:port). */
export function addressesFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceAddresses {
  const entries = COMPUTE_SERVICES.map((name) => {
    const variable = addressesEnvVar(name);
    const value = env[variable] ?? "";
    const addresses = value.split(",").map((a) => a.trim()).filter(Boolean);
    if (addresses.length === 0 || addresses.some((a) => !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(a))) {
      throw new ConfigError(`${variable}="${value}": must be comma-separated host:port of the ${name} service`);
    }
    return [name, addresses] as const;
  });
  return Object.fromEntries(entries) as ServiceAddresses;
}

/** Runs one step's RPC, streaming its progress, and reduces its result to a StepOutput. */
export type StepCaller = (
  kind: StepKind,
  request: StepRequest<StepKind>,
  options: CallOptions & { onProgress?: (progress: Progress) => void },
) => Promise<{ output: StepOutput; result: unknown }>;

export interface StepCallerOptions {
  /** A call that sends nothing for this long is cancelled and fails as DEADLINE_EXCEEDED (which is retried). */
  silenceLimitMs: number;
  /** A call running this long is ended (DEADLINE_EXCEEDED, retried from the step's checkpoint); 0: no limit. */
  callTimeoutMs?: number;
}

/** What a call that went silent fails with: transient, so the step is retried (on another replica where there is one). */
export class SilentCallError extends Error {
  readonly code = status.DEADLINE_EXCEEDED;
  constructor(service: string, silentMs: number) {
    super(`${service} sent nothing for ${Math.round(silentMs / 1000)} s (hung or unreachable replica); the call was cancelled`);
    this.name = "SilentCallError";
  }
}

export function createStepCaller(addresses: ServiceAddresses, options: StepCallerOptions = { silenceLimitMs: 60_000 }) {
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
  const call: StepCaller = async (kind, request, callOptions) => {
    // The call's own controller: the caller's cancellation, or the silence watchdog, cancels it.
    const controller = new AbortController();
    const cancel = () => controller.abort();
    callOptions.signal?.addEventListener("abort", cancel, { once: true });
    let lastMessage = Date.now();
    let silent: SilentCallError | undefined;
    const watchdog = setInterval(() => {
      const quiet = Date.now() - lastMessage;
      if (quiet < options.silenceLimitMs) return;
      silent = new SilentCallError(STEP_KINDS[kind].service, quiet);
      controller.abort();
    }, Math.min(1000, options.silenceLimitMs / 4));
    let result: unknown;
    try {
      const deadline = options.callTimeoutMs ? options.callTimeoutMs : callOptions.deadline;
      for await (const message of streams[kind](request as never, { ...callOptions, deadline, signal: controller.signal })) {
        lastMessage = Date.now();
        if (message.event.case === "progress") callOptions.onProgress?.(message.event.value as Progress);
        else if (message.event.case === "result") result = message.event.value;
      }
    } catch (error) {
      throw silent ?? error;
    } finally {
      clearInterval(watchdog);
      callOptions.signal?.removeEventListener("abort", cancel);
    }
    if (silent) throw silent;
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
      return { artifact: (result as TrainResult).weights, history: (result as TrainResult).history };
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
