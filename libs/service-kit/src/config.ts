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

/** Environment variables every service reads, with their defaults. */
export const ENV = {
  host: "GAP_HOST",
  port: "GAP_PORT",
  maxMessageBytes: "GAP_MAX_MESSAGE_BYTES",
  shutdownGraceMs: "GAP_SHUTDOWN_GRACE_MS",
  queueLimit: "GAP_QUEUE_LIMIT",
  logLevel: "GAP_LOG_LEVEL",
  backend: "GAP_BACKEND",
  storeDir: "GAP_STORE_DIR",
  minioEndpoint: "MINIO_ENDPOINT",
  minioAccessKey: "MINIO_ACCESS_KEY",
  minioSecretKey: "MINIO_SECRET_KEY",
  minioBucket: "MINIO_BUCKET",
} as const;

/** Environment variables of the experiment CLI (nx run coordinator:experiment). */
export const CLI_ENV = {
  /** host:port of a running coordinator; unset starts local services. */
  coordinatorAddress: "GAP_COORDINATOR_ADDRESS",
  /** A preset name or a YAML/JSON spec file. */
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
}

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export function serviceConfigFromEnv(name: ServiceName, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return {
    name,
    host: env[ENV.host] ?? "127.0.0.1",
    port: intFromEnv(env, ENV.port, SERVICES[name].port),
    maxMessageBytes: intFromEnv(env, ENV.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    shutdownGraceMs: intFromEnv(env, ENV.shutdownGraceMs, 10_000),
    queueLimit: intFromEnv(env, ENV.queueLimit, 4),
  };
}

function intFromEnv(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${key} must be a non-negative integer, got "${raw}"`);
  return value;
}
