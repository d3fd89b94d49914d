import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ArtifactRef, ModelSpecSchema, Progress } from "@gap/proto";
import { addressesEnvVar, COMPUTE_SERVICES, ConfigError, ServiceError, status, type ComputeServiceName, type CallOptions } from "@gap/service-kit";
import { createServiceClients, STEP_KINDS, toOutput, type StepKind, type StepOutput, type StepRequest } from "./step-kinds.js";

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

/**
 * Asks the training service whether stored weights fit a model and returns their complete
 * reference (sha256 and size of the stored bytes). The coordinator cannot check them itself:
 * that takes building the model, and so TensorFlow.js. Errors keep the service's status; its
 * verdicts on the weights are prefixed with `field` (e.g. "spec.base_weights[0]." + "weights: ...").
 */
export type WeightsChecker = (model: MessageInitShape<typeof ModelSpecSchema>, weights: ArtifactRef | undefined, field: string) => Promise<ArtifactRef>;

export interface StepCallerOptions {
  /** A call that sends nothing for this long is cancelled and fails as DEADLINE_EXCEEDED (which is retried). */
  silenceLimitMs: number;
  /** A call running this long is ended (DEADLINE_EXCEEDED, retried from the step's checkpoint); 0: no limit. */
  callTimeoutMs?: number;
  /** New calls to a service open a fresh connection after this long (see createClient); 0: never. */
  connectionAgeMs?: number;
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
  const clients = createServiceClients(addresses, { connectionAgeMs: options.connectionAgeMs ?? 0 });
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
      for await (const message of STEP_KINDS[kind].call(clients, request as never, { ...callOptions, deadline, signal: controller.signal })) {
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
  const checkWeights: WeightsChecker = async (model, weights, field) => {
    let checked: ArtifactRef | undefined;
    try {
      checked = (await clients.training.checkWeights({ model, weights }, { deadline: Date.now() + options.silenceLimitMs })).weights;
    } catch (error) {
      const { code, details } = error as { code?: number; details?: string };
      if (code === undefined) throw error;
      // The service's own verdicts name a field of the request ("weights: ..."); anything else is about reaching it.
      const verdict = code === status.INVALID_ARGUMENT || code === status.FAILED_PRECONDITION || code === status.NOT_FOUND;
      throw new ServiceError(code, verdict ? `${field}.${details ?? ""}` : `the training service could not check ${field}: ${details ?? ""}`);
    }
    if (!checked?.sha256) throw new ServiceError(status.INTERNAL, `the training service checked ${field} but returned no reference with a sha256`);
    return checked;
  };
  return { call, checkWeights, close: () => Object.values(clients).forEach((c) => c.close()) };
}
