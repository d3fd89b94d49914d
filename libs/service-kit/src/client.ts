import { credentials, Client, makeGenericClientConstructor, status, type ServiceError as GrpcError } from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./config.js";
import { toGrpcDefinition } from "./grpc-definition.js";

export interface CallOptions {
  signal?: AbortSignal;
  /** Absolute deadline, or milliseconds from now. */
  deadline?: Date | number;
}

type ClientMethod<M extends Pick<DescMethod, "input" | "output" | "methodKind">> = M["methodKind"] extends "unary"
  ? (request: MessageInitShape<M["input"]>, options?: CallOptions) => Promise<MessageShape<M["output"]>>
  : M["methodKind"] extends "server_streaming"
    ? (request: MessageInitShape<M["input"]>, options?: CallOptions) => AsyncIterable<MessageShape<M["output"]>>
    : never;

export type TypedClient<T extends GenService<GenServiceMethods>> = { [K in keyof T["method"]]: ClientMethod<T["method"][K]> } & {
  close(): void;
};

export interface ClientOptions {
  maxMessageBytes?: number;
}

/**
 * Pings on every connection, with or without calls: a peer that stops answering (a hung or frozen
 * replica, a lost network) fails its calls as UNAVAILABLE. The timeout outlasts the longest stretch
 * a busy service's event loop cannot answer (one PGD batch of 128 without the native kernels takes
 * 13-19 s on 2 cores); a hung service is caught sooner by the coordinator's silence limit.
 */
export const KEEPALIVE = { intervalMs: 10_000, timeoutMs: 60_000 };

/**
 * A typed client. Several addresses are replicas: calls rotate over them.
 * A single DNS name (e.g. a Kubernetes headless Service) is balanced by
 * grpc-js's round_robin policy over every address the name resolves to.
 */
export function createClient<T extends GenService<GenServiceMethods>>(
  service: T,
  addresses: string | readonly string[],
  options: ClientOptions = {},
): TypedClient<T> {
  const targets = typeof addresses === "string" ? addresses.split(",").map((a) => a.trim()).filter(Boolean) : [...addresses];
  if (targets.length === 0) throw new Error(`no address given for ${service.typeName}`);
  const Constructor = makeGenericClientConstructor(toGrpcDefinition(service), service.typeName);
  const channelOptions = {
    "grpc.max_receive_message_length": options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.keepalive_time_ms": KEEPALIVE.intervalMs,
    "grpc.keepalive_timeout_ms": KEEPALIVE.timeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
  };
  const clients: Client[] = targets.map((target) => new Constructor(`dns:///${target}`, credentials.createInsecure(), channelOptions));
  let next = 0;
  const pick = () => clients[next++ % clients.length] as Client & Record<string, (...args: unknown[]) => unknown>;

  const typed: Record<string, unknown> = { close: () => clients.forEach((c) => c.close()) };
  for (const method of service.methods) {
    if (method.methodKind === "unary") {
      typed[method.localName] = (request: unknown, callOptions: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const call = pick()[method.localName]!(
            toMessageInit(method.input, request),
            { deadline: toDeadline(callOptions.deadline) },
            (error: GrpcError | null, response: unknown) => (error ? reject(error) : resolve(response)),
          ) as { cancel(): void };
          callOptions.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        });
    } else if (method.methodKind === "server_streaming") {
      typed[method.localName] = (request: unknown, callOptions: CallOptions = {}) => {
        const call = pick()[method.localName]!(toMessageInit(method.input, request), {
          deadline: toDeadline(callOptions.deadline),
        }) as AsyncIterable<unknown> & { cancel(): void };
        callOptions.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        return call;
      };
    }
  }
  return typed as TypedClient<T>;
}

function toMessageInit(schema: DescMessage, init: unknown) {
  return create(schema, init as MessageInitShape<DescMessage>);
}

function toDeadline(deadline: Date | number | undefined): Date | number {
  if (deadline === undefined) return Infinity;
  return typeof deadline === "number" ? Date.now() + deadline : deadline;
}

/** True for errors worth retrying with backoff: the server went away, or the call went silent (DEADLINE_EXCEEDED). */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: number } | null)?.code;
  return code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED;
}

/** True when the server refused the call because its queue is full: wait in line, it is not a failure. */
export function isBusy(error: unknown): boolean {
  return (error as { code?: number } | null)?.code === status.RESOURCE_EXHAUSTED;
}
