import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { addressesEnvVar, COMPUTE_SERVICES, type ServiceName } from "@gap/service-kit";

const REPO_ROOT = resolve(import.meta.dirname, "../../..");

export interface LocalCluster {
  coordinatorAddress: string;
  addresses: Record<string, string[]>;
  processes: Map<string, ChildProcess>;
  /** Starts one more process of a service on a free port (e.g. a restarted coordinator). */
  restart(name: ServiceName): Promise<string>;
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  /** Extra environment for every process (store, backend, ...). */
  env: Record<string, string>;
  /** Directory for each process's log file. */
  logDir: string;
}

/**
 * The five compute services and the coordinator as local processes on free
 * loopback ports. Each process logs JSON lines to <logDir>/<name>.log; its
 * "listening" line tells the bound address.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  mkdirSync(options.logDir, { recursive: true });
  const processes = new Map<string, ChildProcess>();
  const launch = (name: ServiceName, extraEnv: Record<string, string> = {}) =>
    new Promise<string>((resolveAddress, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, `services/${name}/src/main.ts`)], {
        env: { ...process.env, ...options.env, ...extraEnv, GAP_HOST: "127.0.0.1", GAP_PORT: "0" },
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
          if (record.msg === "listening" && record.address) resolveAddress(record.address);
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
  try {
    // One at a time: each loads TensorFlow.js, and two cores are best spent one process after the other.
    for (const name of COMPUTE_SERVICES) addresses[name] = [await launch(name)];
    const coordinatorEnv = Object.fromEntries(COMPUTE_SERVICES.map((name) => [addressesEnvVar(name), addresses[name]!.join(",")]));
    const coordinatorAddress = await launch("coordinator", coordinatorEnv);
    const stop = async () => {
      await Promise.all(
        [...processes.values()].map(
          (child) =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once("exit", () => done());
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
            }),
        ),
      );
    };
    return {
      coordinatorAddress,
      addresses,
      processes,
      restart: (name) => launch(name, name === "coordinator" ? coordinatorEnv : {}),
      stop,
    };
  } catch (error) {
    for (const child of processes.values()) child.kill("SIGKILL");
    throw error;
  }
}
