import {
  Server,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { create, type DescFile, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { ServiceConfig } from "./config.js";
import { cancelled, ServiceError, toStatus, unavailable } from "./errors.js";
import { toGrpcDefinition } from "./grpc-definition.js";
import { createLogger, type Logger } from "./log.js";
import { metrics, serveMetrics } from "./metrics.js";
import { addReflection } from "./reflection.js";

/** What a handler gets besides its request. */
export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  deadline?: Date;
  log: Logger;
}

type Handler<M extends Pick<DescMethod, "input" | "output" | "methodKind">> = M["methodKind"] extends "unary"
  ? (request: MessageShape<M["input"]>, context: CallContext) => Promise<MessageInitShape<M["output"]>>
  : M["methodKind"] extends "server_streaming"
    ? (request: MessageShape<M["input"]>, context: CallContext) => AsyncIterable<MessageInitShape<M["output"]>>
    : never;

/** Handlers for every method of a generated service: unary ones return a promise, streaming ones an async iterable. */
export type ServiceHandlers<T extends GenService<GenServiceMethods>> = { [K in keyof T["method"]]: Handler<T["method"][K]> };

export interface ServiceRegistration {
  service: GenService<GenServiceMethods>;
  handlers: Record<string, unknown>;
}

/** Pairs a service descriptor with its typed handlers. */
export function implement<T extends GenService<GenServiceMethods>>(service: T, handlers: ServiceHandlers<T>): ServiceRegistration {
  return { service, handlers };
}

export interface StartOptions {
  config: ServiceConfig;
  services: ServiceRegistration[];
  /** Files for server reflection (usually gapFiles from @gap/proto). */
  files: readonly DescFile[];
  log?: Logger;
  /**
   * Why this process must not take work (a failed backend self-check): its
   * services then report NOT_SERVING, so readiness probes hold it out, and any
   * call that reaches it anyway fails UNAVAILABLE with this reason. The process
   * itself ("" in the health service) stays SERVING: it is alive, not to be restarted.
   */
  notServing?: string;
}

export interface RunningService {
  readonly port: number;
  readonly address: string;
  /** host:port of GET /metrics (Prometheus). */
  readonly metricsAddress: string;
  readonly health: HealthImplementation;
  readonly log: Logger;
  /** Stops taking calls, lets in-flight calls finish within the grace period, then cancels the rest. */
  shutdown(reason?: string): Promise<void>;
}

export async function startService(options: StartOptions): Promise<RunningService> {
  const { config } = options;
  const log = options.log ?? createLogger({ service: config.name });
  const server = new Server({
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
    // No grpc.max_connection_age: the clients renew their connections instead (client.ts, Channels).
  });
  const inFlight = new Set<AbortController>();

  const health = new HealthImplementation({ "": "SERVING" });
  for (const { service, handlers } of options.services) {
    server.addService(toGrpcDefinition(service), adaptHandlers(service, handlers, inFlight, log, options.notServing));
    health.setStatus(service.typeName, options.notServing === undefined ? "SERVING" : "NOT_SERVING");
  }
  health.addToServer(server);
  addReflection(server, options.files);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.host}:${config.port}`, ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(new Error(`cannot bind ${config.host}:${config.port}: ${error.message}`)) : resolve(boundPort),
    ),
  );
  const address = `${config.host}:${port}`;
  const metricsEndpoint = await serveMetrics(config.host, config.metricsPort, log).catch((error: Error) => {
    server.forceShutdown();
    throw error;
  });
  log.info("listening", { address, services: options.services.map((s) => s.service.typeName), serving: options.notServing === undefined });

  let stopping: Promise<void> | undefined;
  const shutdown = (reason = "shutdown") =>
    (stopping ??= (async () => {
      log.info("shutting down", { reason, inFlight: inFlight.size });
      for (const { service } of options.services) health.setStatus(service.typeName, "NOT_SERVING");
      health.setStatus("", "NOT_SERVING");
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const graceOver = new Promise<"timeout">((resolve) => setTimeout(resolve, config.shutdownGraceMs, "timeout").unref());
      if ((await Promise.race([drained, graceOver])) === "timeout") {
        log.warn("grace period over; cancelling in-flight calls", { inFlight: inFlight.size });
        // UNAVAILABLE, not CANCELLED: the call did not fail, its server went away, so the caller retries it.
        for (const controller of inFlight) controller.abort(unavailable("server shutting down; the call may be retried"));
        // Give cancelled handlers a moment to send their status before the transport closes.
        await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        server.forceShutdown();
      }
      await metricsEndpoint.close();
      log.info("stopped");
    })());

  return { port, address, metricsAddress: metricsEndpoint.address, health, log, shutdown };
}

/** SIGTERM and SIGINT shut the service down gracefully, then exit. */
export function exitOnSignals(service: RunningService): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      service.shutdown(signal).then(
        () => process.exit(0),
        (error) => {
          service.log.error("shutdown failed", { error });
          process.exit(1);
        },
      );
    });
  }
}

function adaptHandlers(
  service: GenService<GenServiceMethods>,
  handlers: Record<string, unknown>,
  inFlight: Set<AbortController>,
  log: Logger,
  notServing: string | undefined,
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (typeof handler !== "function") throw new Error(`${service.typeName}.${method.name} has no handler`);
    const rpc = `${service.typeName}/${method.name}`;
    const callLog = log.child({ rpc });
    const refusal = notServing === undefined ? undefined : unavailable(`not serving: ${notServing}`);
    if (method.methodKind === "unary") {
      implementation[method.localName] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const context = openCall(call, inFlight, callLog);
        Promise.resolve()
          .then(() => {
            if (refusal) throw refusal;
            return handler(call.request, context.context);
          })
          .then(
            (response) => callback(null, toMessage(method.output, response)),
            (error) => callback(reportError(error, context.context, rpc)),
          )
          .finally(context.close);
      };
    } else if (method.methodKind === "server_streaming") {
      implementation[method.localName] = (call: ServerWritableStream<unknown, unknown>) => {
        const context = openCall(call, inFlight, callLog);
        (async () => {
          if (refusal) throw refusal;
          for await (const response of handler(call.request, context.context) as AsyncIterable<unknown>) {
            if (context.context.signal.aborted) throw context.context.signal.reason ?? cancelled();
            if (!call.write(toMessage(method.output, response))) {
              await new Promise((resolve) => call.once("drain", resolve));
            }
          }
          call.end();
        })()
          .catch((error) => {
            if (!call.cancelled) call.emit("error", reportError(error, context.context, rpc));
          })
          .finally(context.close);
      };
    } else {
      throw new Error(`${service.typeName}.${method.name}: only unary and server-streaming calls are supported`);
    }
  }
  return implementation;
}

function toMessage(schema: DescMessage, value: unknown) {
  return create(schema, value as MessageInitShape<DescMessage>);
}

function openCall(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  inFlight: Set<AbortController>,
  log: Logger,
) {
  const controller = new AbortController();
  inFlight.add(controller);
  const deadlineValue = call.getDeadline();
  const deadline = deadlineValue === Infinity ? undefined : new Date(deadlineValue);
  const onCancel = () => controller.abort(cancelled("cancelled by the client or its deadline"));
  call.on("cancelled", onCancel);
  // grpc-js reports a passed deadline as "cancelled" too; the timer covers handlers that never yield to I/O.
  const timer =
    deadline && Number.isFinite(deadline.getTime())
      ? setTimeout(onCancel, Math.max(0, deadline.getTime() - Date.now())).unref()
      : undefined;
  return {
    context: { signal: controller.signal, deadline, log } satisfies CallContext,
    close: () => {
      clearTimeout(timer);
      call.off("cancelled", onCancel);
      inFlight.delete(controller);
    },
  };
}

function reportError(error: unknown, context: CallContext, rpc: string) {
  // A call the server aborted fails with the abort's reason (UNAVAILABLE when it shuts down, so the
  // caller retries), whatever the job threw on seeing the signal (an AbortError, CANCELLED).
  const reason: unknown = context.signal.aborted ? context.signal.reason : undefined;
  const reported = toStatus(reason instanceof ServiceError ? reason : error);
  metrics.rpcErrors.inc({ method: rpc, code: status[reported.code ?? status.UNKNOWN] });
  const level = reported.code === status.INTERNAL || reported.code === status.UNKNOWN ? "error" : "info";
  context.log[level]("call failed", { code: status[reported.code ?? status.UNKNOWN], details: reported.details });
  return reported;
}
