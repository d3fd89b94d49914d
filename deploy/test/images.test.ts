// deploy/docker/Dockerfile without a Docker engine: lints it, checks what the images must
// be (non-root, tsx entry point, the right TensorFlow package per image), then runs the
// image's own production install on its build context in a temporary directory and
// starts every service from the result, as the cpu image would.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import dockerignore from "@balena/dockerignore";
import { DockerfileParser, type From, type Instruction, type JSONInstruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { credentials, makeGenericClientConstructor, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { addressesEnvVar, COMPUTE_SERVICES, ENV, SERVICES, type ServiceName } from "@gap/service-kit";
import { DEPLOY_DIR, DOCKERFILE, REPO_ROOT } from "./support.js";

const content = readFileSync(DOCKERFILE, "utf8");
const dockerfile = DockerfileParser.parse(content);
const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  workspaces: string[];
  engines: { node: string };
  optionalDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};
const deployPackage = JSON.parse(readFileSync(join(DEPLOY_DIR, "package.json"), "utf8")) as { dependencies: Record<string, string> };

interface Stage {
  name: string;
  /** The base image with build arguments resolved, or an earlier stage's name. */
  from: string;
  instructions: Instruction[];
}

const buildArgs = new Map(dockerfile.getInitialARGs().map((arg) => [arg.getProperty()?.getName(), arg.getProperty()?.getValue() ?? ""]));
const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction.getKeyword() === "FROM") {
    const from = instruction as From;
    const image = from.getArguments()[0]!.getValue().replace(/\$\{(\w+)\}/g, (_, name: string) => buildArgs.get(name) ?? "");
    stages.push({ name: from.getBuildStage() ?? String(stages.length), from: image, instructions: [] });
  } else stages.at(-1)?.instructions.push(instruction);
}
const stage = (name: string) => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name} in ${DOCKERFILE}`);
  return found;
};
const all = (s: Stage, keyword: string) => s.instructions.filter((i) => i.getKeyword() === keyword);
const runs = (s: Stage) => all(s, "RUN").map((i) => i.getArgumentsContent()!);
const jsonArgs = (i: Instruction | undefined) => (i as JSONInstruction | undefined)?.getJSONStrings().map((s) => s.getJSONValue());
const TARGETS = ["cpu", "gpu"] as const;

describe("deploy/docker/Dockerfile", () => {
  it("passes the linter (dockerfile-utils) without an error or a warning", () => {
    const problems = validate(content).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it.each(TARGETS)("%s: runs as a non-root user, every service through tsx", (target) => {
    const s = stage(target);
    const user = all(s, "USER").at(-1)?.getArgumentsContent();
    expect(user, "USER").toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(jsonArgs(all(s, "ENTRYPOINT").at(-1))).toEqual(["node", "--import", "tsx"]);
    const [main] = jsonArgs(all(s, "CMD").at(-1)) ?? [];
    expect(existsSync(join(REPO_ROOT, main!)), main).toBe(true);
    // tsx runs the services, so the production install must have it.
    expect(deployPackage.dependencies.tsx).toBeDefined();
    expect(rootPackage.workspaces).toContain("deploy");
  });

  it("cpu runs native TensorFlow on a Node version the repository supports; gpu runs tfjs-node-gpu on CUDA", () => {
    const [, wantMajor, wantMinor] = /(\d+)\.(\d+)/.exec(rootPackage.engines.node)!.map(Number);
    const [, major, minor] = /^node:(\d+)(?:\.(\d+))?/.exec(stage("cpu").from)!.map(Number);
    expect(major! > wantMajor! || (major === wantMajor && (minor ?? 0) >= wantMinor!), stage("cpu").from).toBe(true);
    expect(stage("gpu").from).toMatch(/^nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-/);
    const copiedFrom = (s: Stage) => all(s, "COPY").flatMap((i) => (i as JSONInstruction).getFlags().filter((f) => f.getName() === "from").map((f) => f.getValue()));
    expect(copiedFrom(stage("cpu"))).toEqual(["deps-cpu"]);
    expect(copiedFrom(stage("gpu"))).toEqual(["deps", "deps-gpu"]);
    for (const [deps, dropped] of [["deps-cpu", "@tensorflow/tfjs-node-gpu"], ["deps-gpu", "@tensorflow/tfjs-node"]] as const) {
      expect(runs(stage(deps))).toEqual([`rm -rf node_modules/${dropped}`]);
      // Both are optional root dependencies whose install scripts may download libtensorflow.
      expect(rootPackage.optionalDependencies[dropped]).toBeDefined();
      expect(rootPackage.allowScripts[dropped]).toBe(true);
    }
    expect(runs(stage("deps"))).toEqual([expect.stringMatching(/^npm install --global .*npm@\$\{NPM_VERSION\}$/), expect.stringMatching(/^npm ci .*--omit=dev/)]);
  });

  it("installs with the npm this repository uses (allowScripts needs npm 11)", () => {
    const local = spawnSync("npm", ["--version"], { encoding: "utf8" }).stdout.trim();
    const major = (version: string) => version.split(".")[0];
    expect(major(buildArgs.get("NPM_VERSION")!), `the image's npm ${buildArgs.get("NPM_VERSION")}, this machine's ${local}`).toBe(major(local));
  });
});

/** The build context: the repository less what Dockerfile.dockerignore leaves out. */
function copyContext(to: string): void {
  const ignore = dockerignore().add(readFileSync(`${DOCKERFILE}.dockerignore`, "utf8"));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(REPO_ROOT, path);
      if (ignore.ignores(rel)) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() || entry.isSymbolicLink()) {
        mkdirSync(join(to, dirname(rel)), { recursive: true });
        cpSync(path, join(to, rel), { verbatimSymlinks: true });
      }
    }
  };
  walk(REPO_ROOT);
}

/** The manifests stage, by running its own RUN line in the context with /manifests pointed at `to`. */
function copyManifests(context: string, to: string): void {
  for (const command of runs(stage("manifests"))) sh(command.replaceAll("/manifests", to).replace(/\\\n/g, " "), context, 60_000);
}

function sh(command: string, cwd: string, timeoutMs: number): void {
  const run = spawnSync("sh", ["-c", command], { cwd, encoding: "utf8", timeout: timeoutMs, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  if (run.status !== 0) throw new Error(`${command} failed (${run.error?.message ?? `exit ${run.status}`}):\n${run.stdout}\n${run.stderr}`);
}

describe("the cpu image's production install, without Docker", () => {
  const work = mkdtempSync(join(tmpdir(), "gap-deploy-image-"));
  const context = join(work, "context");
  const app = join(work, "app");
  const processes: ChildProcess[] = [];
  afterAll(() => {
    for (const child of processes) child.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  });

  it("installs with the Dockerfile's own npm ci, and every service starts from it and reports SERVING", { timeout: 240_000 }, async () => {
    copyContext(context);
    expect(existsSync(join(context, "node_modules"))).toBe(false);
    copyManifests(context, app);
    // The install itself; this machine's npm stands in for the image's (same major version).
    for (const command of runs(stage("deps")).filter((c) => c.startsWith("npm ci "))) sh(command, app, 180_000);
    for (const command of runs(stage("deps-cpu"))) sh(command, app, 10_000);
    expect(existsSync(join(app, "node_modules/tsx/package.json")), "tsx installed").toBe(true);
    expect(existsSync(join(app, "node_modules/vitest")), "devDependencies left out").toBe(false);
    expect(existsSync(join(app, "node_modules/@tensorflow/tfjs-node-gpu")), "no CUDA build in the cpu image").toBe(false);
    cpSync(context, app, { recursive: true, verbatimSymlinks: true });
    for (const name of ["service-kit", "compute", "client"]) expect(lstatSync(join(app, `node_modules/@gap/${name}`)).isSymbolicLink()).toBe(true);

    // The image's environment, on loopback and a free port; the local store instead of MinIO.
    // GAP_BACKEND=auto: libtensorflow cannot be downloaded here, so the install had no tfjs-node.
    const entrypoint = jsonArgs(all(stage("cpu"), "ENTRYPOINT").at(-1))!;
    const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "production", [ENV.host]: "127.0.0.1", [ENV.port]: "0", [ENV.backend]: "auto", [ENV.storeDir]: join(work, "store") };
    const start = (name: ServiceName, env: Record<string, string> = {}) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(entrypoint[0]!, [...entrypoint.slice(1), `services/${name}/src/main.ts`], { cwd: app, env: { ...baseEnv, ...env }, stdio: ["ignore", "ignore", "pipe"] });
        processes.push(child);
        const lines: string[] = [];
        createInterface({ input: child.stderr! }).on("line", (line) => {
          lines.push(line);
          try {
            const record = JSON.parse(line) as { msg?: string; address?: string };
            if (record.msg === "listening" && record.address) resolve(record.address);
          } catch {
            // not a log record
          }
        });
        child.once("exit", (code) => reject(new Error(`${name} exited (${code}) before listening:\n${lines.slice(-20).join("\n")}`)));
      });
    const addresses: Partial<Record<ServiceName, string>> = {};
    for (const name of COMPUTE_SERVICES) addresses[name] = await start(name);
    addresses.coordinator = await start("coordinator", Object.fromEntries(COMPUTE_SERVICES.map((n) => [addressesEnvVar(n), addresses[n]!])));

    // What the kubelet's readiness probe asks: grpc.health.v1 Check for the service name.
    const Health = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
    for (const [name, address] of Object.entries(addresses) as Array<[ServiceName, string]>) {
      const health = new Health(address, credentials.createInsecure()) as Client & Record<string, (...args: unknown[]) => void>;
      for (const service of [SERVICES[name].grpcService, ""]) {
        const reply = await new Promise<{ status: string }>((resolve, reject) =>
          health.Check!({ service }, (error: Error | null, r: { status: string }) => (error ? reject(error) : resolve(r))),
        );
        expect(reply.status, `${name} ${service || '""'}`).toBe("SERVING");
      }
      health.close();
    }
  });
});
