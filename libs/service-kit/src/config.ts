import { integer, oneOf, readEnv, text } from "./env.js";

/**
 * The one table of service names, default ports, gRPC service names and
 * environment variables. Services read it at start-up and the Kubernetes
 * manifests are checked against it, so the two cannot drift apart.
 */
export const SERVICES = {
  coordinator: { port: 50050, grpcService: "gap.v1.CoordinatorService" },
  training: { port: 50051, grpcService: "gap.v1.TrainingService" },
  attack: { port: 50052, grpcService: "gap.v1.AttackService" },
  pruning: { port: 50053, grpcService: "gap.v1.PruningService" },
  quantization: { port: 50054, grpcService: "gap.v1.QuantizationService" },
  evaluation: { port: 50055, grpcService: "gap.v1.EvaluationService" },
} as const;
export type ServiceName = keyof typeof SERVICES;
export const COMPUTE_SERVICES = ["training", "attack", "pruning", "quantization", "evaluation"] as const;
export type ComputeServiceName = (typeof COMPUTE_SERVICES)[number];

/**
 * Node's flags for every service process (the local cluster's and the images' entry point).
 * A ~60 MB live heap (modules, backend, cached data) started V8's old-generation limit a
 * couple of MB above it, so the few MB of weights, masks and batches a job decodes ran a
 * full mark-compact (about 16 ms with its marking steps) in most evaluation jobs and a dozen
 * times per training job; a 128 MB start leaves room for a job's garbage.
 */
export const SERVICE_NODE_FLAGS = ["--initial-old-space-size=128"] as const;

/** Environment variables every service reads, with their defaults. */
export const ENV = {
  host: "GAP_HOST",
  port: "GAP_PORT",
  maxMessageBytes: "GAP_MAX_MESSAGE_BYTES",
  shutdownGraceMs: "GAP_SHUTDOWN_GRACE_MS",
  queueLimit: "GAP_QUEUE_LIMIT",
  logLevel: "GAP_LOG_LEVEL",
  metricsPort: "GAP_METRICS_PORT",
  backend: "GAP_BACKEND",
  storeDir: "GAP_STORE_DIR",
  minioEndpoint: "MINIO_ENDPOINT",
  minioAccessKey: "MINIO_ACCESS_KEY",
  minioSecretKey: "MINIO_SECRET_KEY",
  minioBucket: "MINIO_BUCKET",
} as const;

/** Environment variables of the coordinator, besides ENV and the compute services' addresses. */
export const COORDINATOR_ENV = {
  concurrency: "GAP_CONCURRENCY",
  retryBudgetMs: "GAP_RETRY_BUDGET_MS",
  silenceLimitMs: "GAP_SILENCE_LIMIT_MS",
  callTimeoutMs: "GAP_CALL_TIMEOUT_MS",
  connectionAgeMs: "GAP_MAX_CONNECTION_AGE_MS",
} as const;

/** Environment variables of the experiment CLI (nx run coordinator:experiment). */
export const CLI_ENV = {
  /** host:port of a running coordinator; unset starts local services. */
  coordinatorAddress: "GAP_COORDINATOR_ADDRESS",
  /** A preset name, a YAML/JSON spec file, or the spec's YAML itself (text with a line break). */
  spec: "GAP_SPEC",
  /** Where results, reports, logs and the local store go. */
  workDir: "GAP_WORK_DIR",
} as const;

/** The coordinator finds each compute service through GAP_<NAME>_ADDRESSES (comma-separated host:port). */
export const addressesEnvVar = (service: ComputeServiceName) => `GAP_${service.toUpperCase()}_ADDRESSES`;

export interface ServiceConfig {
  name: string;
  host: string;
  /** 0 binds a free port. */
  port: number;
  maxMessageBytes: number;
  shutdownGraceMs: number;
  /** Compute jobs that may wait behind the running one before RESOURCE_EXHAUSTED. */
  queueLimit: number;
  /** Port of the Prometheus endpoint (GET /metrics, on the same host); 0 takes a free one. */
  metricsPort: number;
}

/** The metrics port the Kubernetes manifests give every pod (GAP_METRICS_PORT; the PodMonitors scrape it by name). */
export const CLUSTER_METRICS_PORT = 9464;

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const DAY_MS = 86_400_000;

/** Every server's variables; a bad value is a ConfigError naming it. */
export function serviceVariables(name: ServiceName) {
  return {
    [ENV.host]: text("bind address", "127.0.0.1"),
    [ENV.port]: integer("port; 0 takes a free one", SERVICES[name].port, 0, 65_535),
    [ENV.maxMessageBytes]: integer("largest gRPC message", DEFAULT_MAX_MESSAGE_BYTES, 1024, 1 << 30, " bytes"),
    [ENV.shutdownGraceMs]: integer("time in-flight calls get after SIGTERM", 10_000, 0, DAY_MS, " ms"),
    [ENV.queueLimit]: integer("jobs waiting behind the running one", 4, 0, 10_000),
    // A free port by default: several processes on one machine (the local cluster, tests) must not collide.
    [ENV.metricsPort]: integer("port of the Prometheus /metrics endpoint; 0 takes a free one", 0, 0, 65_535),
    [ENV.logLevel]: oneOf("least severe log level written", "info", ["debug", "info", "warn", "error"] as const),
  } as const;
}

export function serviceConfigFromEnv(name: ServiceName, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const v = readEnv(serviceVariables(name), env);
  return {
    name,
    host: v[ENV.host]!,
    port: v[ENV.port],
    maxMessageBytes: v[ENV.maxMessageBytes],
    shutdownGraceMs: v[ENV.shutdownGraceMs],
    queueLimit: v[ENV.queueLimit],
    metricsPort: v[ENV.metricsPort],
  };
}

export interface CoordinatorConfig {
  /** Steps run at once. */
  concurrency: number;
  /** How long a step's failed calls are retried before the step fails. */
  retryBudgetMs: number;
  /** A step call that sends nothing for this long is cancelled and retried. */
  silenceLimitMs: number;
  /**
   * A step call running this long is ended by the coordinator (DEADLINE_EXCEEDED) and
   * retried, resuming from its checkpoint: below a proxy's request timeout (Knative's
   * timeoutSeconds), so the cut is one the coordinator knows to retry. 0: no limit.
   */
  callTimeoutMs: number;
  /** After this long, new step calls to a service open a fresh connection (a new name lookup finds replicas added since); 0: never. */
  connectionAgeMs: number;
}

export const COORDINATOR_VARIABLES = {
  [COORDINATOR_ENV.concurrency]: integer("steps the coordinator runs at once", 2, 1, 256),
  [COORDINATOR_ENV.retryBudgetMs]: integer("time a failing step call is retried for", 600_000, 0, DAY_MS, " ms"),
  [COORDINATOR_ENV.silenceLimitMs]: integer("silence after which a step call is cancelled and retried", 60_000, 1_000, DAY_MS, " ms"),
  [COORDINATOR_ENV.callTimeoutMs]: integer("longest a step call runs before it is ended and retried from its checkpoint (0: no limit)", 0, 0, 7 * DAY_MS, " ms"),
  [COORDINATOR_ENV.connectionAgeMs]: integer("age after which new step calls open a fresh connection (0: never)", 300_000, 0, DAY_MS, " ms"),
} as const;

export function coordinatorConfigFromEnv(env: NodeJS.ProcessEnv = process.env): CoordinatorConfig {
  const v = readEnv(COORDINATOR_VARIABLES, env);
  return {
    concurrency: v[COORDINATOR_ENV.concurrency],
    retryBudgetMs: v[COORDINATOR_ENV.retryBudgetMs],
    silenceLimitMs: v[COORDINATOR_ENV.silenceLimitMs],
    callTimeoutMs: v[COORDINATOR_ENV.callTimeoutMs],
    connectionAgeMs: v[COORDINATOR_ENV.connectionAgeMs],
  };
}
