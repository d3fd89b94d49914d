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
  /** Channels opened so far and open now (see ClientOptions.connectionAgeMs). */
  channels(): { opened: number; open: number };
};

export interface ClientOptions {
  maxMessageBytes?: number;
  /**
   * After this long, new calls go to a fresh channel, which looks the name up again (so replicas
   * added since get calls); the old channel closes when its last call ends. 0: one channel for good.
   */
  connectionAgeMs?: number;
}

/**
 * Pings on every connection, with or without calls: a peer that stops answering (a hung or frozen
 * replica, a lost network) fails its calls as UNAVAILABLE. The timeout outlasts the longest stretch
 * a busy service's event loop cannot answer (one PGD batch of 128 without the native kernels takes
 * 13-19 s on 2 cores); a hung service is caught sooner by the coordinator's silence limit.
 */
export const KEEPALIVE = { intervalMs: 10_000, timeoutMs: 60_000 };

/**
 * A typed client. Several addresses are replicas: a call goes to the one with the
 * fewest calls in flight, in turn among equals (a compute replica runs one job at
 * a time, so plain rotation could queue a job behind a busy replica while another
 * idles). A single DNS name (e.g. a Kubernetes headless Service) is balanced by
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
  const channels = targets.map((target) => new Channels(() => new Constructor(`dns:///${target}`, credentials.createInsecure(), channelOptions), options.connectionAgeMs ?? 0));
  let next = 0;
  const pick = () => {
    let chosen = next % channels.length;
    for (let i = 1; i < channels.length; i++) {
      const j = (next + i) % channels.length;
      if (channels[j]!.active < channels[chosen]!.active) chosen = j;
    }
    next = chosen + 1;
    return channels[chosen]!.acquire();
  };

  const typed: Record<string, unknown> = {
    close: () => channels.forEach((c) => c.close()),
    channels: () => channels.reduce((sum, c) => ({ opened: sum.opened + c.opened, open: sum.open + c.open }), { opened: 0, open: 0 }),
  };
  for (const method of service.methods) {
    if (method.methodKind === "unary") {
      typed[method.localName] = (request: unknown, callOptions: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const { client, done } = pick();
          const call = client[method.localName]!(
            toMessageInit(method.input, request),
            { deadline: toDeadline(callOptions.deadline) },
            (error: GrpcError | null, response: unknown) => {
              done();
              if (error) reject(error);
              else resolve(response);
            },
          ) as { cancel(): void };
          callOptions.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        });
    } else if (method.methodKind === "server_streaming") {
      typed[method.localName] = (request: unknown, callOptions: CallOptions = {}) => {
        const { client, done } = pick();
        const call = client[method.localName]!(toMessageInit(method.input, request), {
          deadline: toDeadline(callOptions.deadline),
        }) as AsyncIterable<unknown> & { cancel(): void; once(event: string, listener: () => void): void };
        // 'status' ends every call (done, failed or cancelled); 'close' covers a stream torn down without one.
        call.once("status", done);
        call.once("close", done);
        callOptions.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        return call;
      };
    }
  }
  return typed as TypedClient<T>;
}

type GenericClient = Client & Record<string, (...args: unknown[]) => unknown>;

/**
 * One target's channels. New calls go to the newest; after ageMs a new one is opened (a fresh
 * name lookup), and older ones close once their last call ends. The clients renew connections,
 * not the servers: after a server's grpc.max_connection_age GOAWAY, grpc-js 1.14's next keepalive
 * ping on that connection fails ("Ping returned false") and drops every call still running on it
 * ("Connection dropped"): every long step was cut and retried each 5 minutes.
 */
class Channels {
  private readonly generations: Array<{ client: GenericClient; born: number; active: number }> = [];
  opened = 0;

  constructor(
    private readonly make: () => Client,
    private readonly ageMs: number,
  ) {}

  get open(): number {
    return this.generations.length;
  }

  /** Calls in flight over every generation. */
  get active(): number {
    return this.generations.reduce((sum, g) => sum + g.active, 0);
  }

  acquire(): { client: GenericClient; done: () => void } {
    let current = this.generations.at(-1);
    if (current == null || (this.ageMs > 0 && Date.now() - current.born >= this.ageMs)) {
      current = { client: this.make() as GenericClient, born: Date.now(), active: 0 };
      this.generations.push(current);
      this.opened++;
      this.closeIdle();
    }
    const generation = current;
    generation.active++;
    let ended = false;
    return {
      client: generation.client,
      done: () => {
        if (ended) return;
        ended = true;
        generation.active--;
        this.closeIdle();
      },
    };
  }

  /** Closes every channel but the newest that has no call left. */
  private closeIdle(): void {
    const newest = this.generations.at(-1);
    for (const g of [...this.generations]) {
      if (g === newest || g.active > 0) continue;
      g.client.close();
      this.generations.splice(this.generations.indexOf(g), 1);
    }
  }

  close(): void {
    for (const g of this.generations.splice(0)) g.client.close();
  }
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
