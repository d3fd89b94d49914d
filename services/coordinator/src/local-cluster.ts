import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import { availableParallelism } from "node:os";
import { build } from "esbuild";
import { addressesEnvVar, COMPUTE_SERVICES, coordinatorConfigFromEnv, SERVICE_NODE_FLAGS, type ComputeServiceName, type ServiceName } from "@gap/service-kit";

const REPO_ROOT = resolve(import.meta.dirname, "../../..");

export interface LocalCluster {
  coordinatorAddress: string;
  /** Each compute service's replicas, as the coordinator knows them. */
  addresses: Record<string, string[]>;
  /** Running processes by name: "training", and "training-2" for a second replica. */
  processes: Map<string, ChildProcess>;
  /** host:port of each process's Prometheus endpoint (GET /metrics), by process name. */
  metricsAddresses: Map<string, string>;
  /**
   * Starts the named process again (after it was killed) on the address it
   * had, so its callers find it where they left it. Returns that address.
   */
  restart(name: string, extraEnv?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  /** Extra environment for every process (store, backend, ...). */
  env: Record<string, string>;
  /** Directory for each process's log file. */
  logDir: string;
  /** Replicas per compute service (default 1 each). */
  replicas?: Partial<Record<ComputeServiceName, number>>;
  /** Extra environment for one process by name ("coordinator", "training-2", ...). */
  envOf?: Record<string, Record<string, string>>;
  /** Jobs that run at once on this machine (default: the coordinator's GAP_CONCURRENCY); shares out the cores. */
  jobsAtOnce?: number;
}

/**
 * OpenMP threads for each compute process's native kernels (OMP_NUM_THREADS):
 * the machine's cores shared out among the jobs that run at once, each service
 * running one job at a time. With two jobs of two threads each on two cores,
 * every parallel loop waited for a thread the other process had taken: the
 * quick preset took 272 s that way, 230 s with one thread per process. A value
 * the caller set is kept.
 */
export function nativeThreads(env: NodeJS.ProcessEnv, jobsAtOnce: number, cores = availableParallelism()): string {
  return env["OMP_NUM_THREADS"] ?? String(Math.max(1, Math.floor(cores / jobsAtOnce)));
}

/**
 * Each service's entry point bundled into one ES module in `outDir` (the
 * project's own packages inlined, npm packages left to node), with a source map
 * beside it (NODE_OPTIONS=--enable-source-maps maps stack traces to the sources;
 * off by default, it added about 1.8 s to a local run's start). Through tsx an
 * evaluation process took 4.4 CPU seconds to come up, from its bundle 2.4: tsx
 * transpiles and resolves every module at start. Each source file keeps its own
 * import.meta.url and dirname, so paths found from them stay where they were.
 */
export async function bundleServices(names: readonly ServiceName[], outDir: string): Promise<Map<ServiceName, string>> {
  await build({
    entryPoints: Object.fromEntries(names.map((name) => [name, join(REPO_ROOT, `services/${name}/src/main.ts`)])),
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    logLevel: "silent",
    plugins: [
      {
        name: "gap-sources",
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("@gap/") ? undefined : { external: true }));
          b.onLoad({ filter: /\.ts$/ }, (args) => {
            const source = readFileSync(args.path, "utf8")
              .replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href))
              .replaceAll("import.meta.dirname", JSON.stringify(dirname(args.path)));
            return { contents: source, loader: "ts" };
          });
        },
      },
    ],
  });
  return new Map(names.map((name) => [name, join(outDir, `${name}.mjs`)]));
}

/**
 * The five compute services and the coordinator as local processes on free
 * loopback ports. Each process logs JSON lines to <logDir>/<name>.log; its
 * "listening" line tells the bound address, its "metrics listening" line that of /metrics.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  mkdirSync(options.logDir, { recursive: true });
  const processes = new Map<string, ChildProcess>();
  const boundAddress = new Map<string, string>();
  const metricsAddresses = new Map<string, string>();
  const baseEnv = { ...process.env, ...options.env };
  const threads = nativeThreads(baseEnv, options.jobsAtOnce ?? coordinatorConfigFromEnv(baseEnv).concurrency);
  // Under the repository's node_modules, so that the bundles' npm imports resolve as the sources' do.
  const cacheDir = join(REPO_ROOT, "node_modules/.cache");
  mkdirSync(cacheDir, { recursive: true });
  const bundleDir = mkdtempSync(join(cacheDir, "gap-services-"));
  const removeBundles = () => rmSync(bundleDir, { recursive: true, force: true });
  const bundles = await bundleServices([...COMPUTE_SERVICES, "coordinator"], bundleDir).catch((error) => {
    removeBundles();
    throw error;
  });
  const launch = (name: string, service: ServiceName, extraEnv: Record<string, string> = {}) =>
    new Promise<string>((resolveAddress, reject) => {
      const port = boundAddress.get(name)?.split(":").pop() ?? "0";
      const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, bundles.get(service)!], {
        env: { ...baseEnv, OMP_NUM_THREADS: threads, GAP_HOST: "127.0.0.1", GAP_PORT: port, GAP_METRICS_PORT: "0", ...options.envOf?.[name], ...extraEnv },
        stdio: ["ignore", "ignore", "pipe"],
      });
      processes.set(name, child);
      const log = createWriteStream(join(options.logDir, `${name}.log`), { flags: "a" });
      let lastLines: string[] = [];
      createInterface({ input: child.stderr! }).on("line", (line) => {
        log.write(line + "\n");
        lastLines = [...lastLines.slice(-9), line];
        try {
          const record = JSON.parse(line) as { msg?: string; address?: string };
          if (record.msg === "metrics listening" && record.address) metricsAddresses.set(name, record.address);
          if (record.msg === "listening" && record.address) {
            boundAddress.set(name, record.address);
            resolveAddress(record.address);
          }
        } catch {
          // not a JSON line (e.g. a stack trace): kept in the log only
        }
      });
      child.once("exit", (code, signal) => {
        log.end();
        reject(new Error(`${name} exited (${signal ?? code}) before listening:\n${lastLines.join("\n")}`));
      });
    });

  const addresses: Record<string, string[]> = {};
  const services = new Map<string, ServiceName>();
  try {
    // All at once: on 2 cores, with one native thread each, the five came up in
    // 9.8 s against 12.4 s one after another (each takes about 2.5 s alone). Replicas
    // too: the quick preset's cluster (a second training replica) came up in 8.0-8.5 s
    // against 8.3-9.5 s with the replica after the first (four interleaved starts each).
    await Promise.all(COMPUTE_SERVICES.map(async (service) => {
      const names = Array.from({ length: options.replicas?.[service] ?? 1 }, (_, i) => (i === 0 ? service : `${service}-${i + 1}`));
      for (const name of names) services.set(name, service);
      addresses[service] = await Promise.all(names.map((name) => launch(name, service)));
    }));
    const coordinatorEnv = Object.fromEntries(COMPUTE_SERVICES.map((name) => [addressesEnvVar(name), addresses[name]!.join(",")]));
    services.set("coordinator", "coordinator");
    const coordinatorAddress = await launch("coordinator", "coordinator", coordinatorEnv);
    const stop = async () => {
      await Promise.all(
        [...processes.values()].map(
          (child) =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once("exit", () => done());
              child.kill("SIGCONT"); // a stopped process cannot act on SIGTERM
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
            }),
        ),
      );
      removeBundles();
    };
    return {
      coordinatorAddress,
      addresses,
      processes,
      metricsAddresses,
      restart: (name, extraEnv = {}) => {
        const service = services.get(name);
        if (!service) throw new Error(`no process named ${name} in this cluster`);
        return launch(name, service, { ...(service === "coordinator" ? coordinatorEnv : {}), ...extraEnv });
      },
      stop,
    };
  } catch (error) {
    for (const child of processes.values()) child.kill("SIGKILL");
    removeBundles();
    throw error;
  }
}
