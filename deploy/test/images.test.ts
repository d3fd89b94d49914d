// deploy/docker/Dockerfile without a Docker engine: lints it, checks what the images must
// be (non-root, tsx entry point, the right backend per image), then runs the cpu image's
// own install steps on its build context in a temporary directory: the production
// install, the oneDNN addon built and loaded, a ResNet20 training step on the native
// kernels, and every service started from the result, passing its backend self-check.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import dockerignore from "@balena/dockerignore";
import { DockerfileParser, type Env, type From, type Instruction, type JSONInstruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { credentials, makeGenericClientConstructor, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { addressesEnvVar, COMPUTE_SERVICES, ENV, SERVICE_NODE_FLAGS, SERVICES, type ServiceName } from "@gap/service-kit";
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
const envOf = (s: Stage): Record<string, string> =>
  Object.fromEntries(all(s, "ENV").flatMap((i) => (i as Env).getProperties().map((p) => [p.getName(), p.getValue() ?? ""])));
/** The Debian packages a stage's RUN lines install. */
const aptPackages = (s: Stage) =>
  runs(s).flatMap((command) => [...command.matchAll(/apt-get install ((?:\s*[^\s&]+)+)/g)].flatMap((m) => m[1]!.trim().split(/\s+/).filter((w) => !w.startsWith("-"))));
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
    expect(jsonArgs(all(s, "ENTRYPOINT").at(-1))).toEqual(["node", ...SERVICE_NODE_FLAGS, "--import", "tsx"]);
    const [main] = jsonArgs(all(s, "CMD").at(-1)) ?? [];
    expect(existsSync(join(REPO_ROOT, main!)), main).toBe(true);
    // tsx runs the services, so the production install must have it.
    expect(deployPackage.dependencies.tsx).toBeDefined();
    expect(rootPackage.workspaces).toContain("deploy");
  });

  it("cpu runs wasm with the native oneDNN kernels (libdnnl-dev to build, its runtime library to run) on a supported Node; gpu runs tfjs-node-gpu on CUDA", () => {
    const [, wantMajor, wantMinor] = /(\d+)\.(\d+)/.exec(rootPackage.engines.node)!.map(Number);
    const [, major, minor] = /^node:(\d+)(?:\.(\d+))?/.exec(stage("cpu").from)!.map(Number);
    expect(major! > wantMajor! || (major === wantMajor && (minor ?? 0) >= wantMinor!), stage("cpu").from).toBe(true);
    expect(stage("gpu").from).toMatch(/^nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-/);
    expect(envOf(stage("cpu")).GAP_BACKEND).toBe("wasm");
    expect(envOf(stage("gpu")).GAP_BACKEND).toBe("tensorflow-gpu");
    const copiedFrom = (s: Stage) => all(s, "COPY").flatMap((i) => (i as JSONInstruction).getFlags().filter((f) => f.getName() === "from").map((f) => f.getValue()));
    expect(copiedFrom(stage("cpu"))).toEqual(["deps-cpu"]);
    expect(copiedFrom(stage("gpu"))).toEqual(["npm", "deps-gpu"]);
    // cpu: no install script runs (the only permitted ones download libtensorflow), the addon is built and must load.
    expect(aptPackages(stage("deps-cpu"))).toContain("libdnnl-dev");
    expect(aptPackages(stage("cpu"))).not.toContain("libdnnl-dev");
    const cpuInstall = runs(stage("deps-cpu")).filter((c) => c.startsWith("npm ci "));
    expect(cpuInstall).toEqual([expect.stringMatching(/--omit=dev/)]);
    expect(cpuInstall[0]).toContain("--ignore-scripts");
    const addon = runs(stage("deps-cpu")).find((c) => c.startsWith("node libs/native/build.mjs"));
    expect(addon).toMatch(/rm -rf node_modules\/@tensorflow\/tfjs-node node_modules\/@tensorflow\/tfjs-node-gpu/);
    expect(addon).toMatch(/require\('\.\/libs\/native\/build\/Release\/gap_native\.node'\)\.info\(\)/);
    // gpu: the permitted install script fetches libtensorflow for tfjs-node-gpu.
    expect(runs(stage("deps-gpu"))).toEqual([expect.stringMatching(/^npm ci (?!.*--ignore-scripts).*--omit=dev/), "rm -rf node_modules/@tensorflow/tfjs-node"]);
    for (const name of ["@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"]) {
      expect(rootPackage.optionalDependencies[name]).toBeDefined();
      expect(rootPackage.allowScripts[name]).toBe(true);
    }
    expect(runs(stage("npm"))).toEqual([expect.stringMatching(/^npm install --global .*npm@\$\{NPM_VERSION\}$/)]);
    // The build context leaves out a locally built addon: the image builds its own against its libdnnl.
    expect(dockerignore().add(readFileSync(`${DOCKERFILE}.dockerignore`, "utf8")).ignores("libs/native/build/Release/gap_native.node")).toBe(true);
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

/** Whether Debian's package manager reports the package installed here; undefined without dpkg. */
function debianInstalled(name: string): boolean | undefined {
  const query = spawnSync("dpkg-query", ["-W", "-f=${Status}", name], { encoding: "utf8" });
  if (query.error) return undefined;
  return query.stdout.trim() === "install ok installed";
}

/** The Debian package that holds the oneDNN library the built addon links to (ldd, dpkg -S); undefined without them. */
function packageOfLinkedDnnl(addon: string): string | undefined {
  const ldd = spawnSync("ldd", [addon], { encoding: "utf8" });
  const path = /libdnnl\.so\S*\s*=>\s*(\S+)/.exec(ldd.stdout ?? "")?.[1];
  if (ldd.error || !path) return undefined;
  const owner = spawnSync("dpkg-query", ["-S", realpathSync(path)], { encoding: "utf8" });
  return owner.error || owner.status !== 0 ? undefined : owner.stdout.split(":")[0]!.trim();
}

describe("the cpu image's install, without Docker", () => {
  const work = mkdtempSync(join(tmpdir(), "gap-deploy-image-"));
  const context = join(work, "context");
  const app = join(work, "app");
  const processes: ChildProcess[] = [];
  afterAll(() => {
    for (const child of processes) child.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  });

  it("installs with the Dockerfile's own steps, builds and loads the oneDNN addon, trains a ResNet20 step on it, and every service passes its self-check and reports SERVING", { timeout: 600_000 }, async () => {
    copyContext(context);
    expect(existsSync(join(context, "node_modules"))).toBe(false);
    expect(existsSync(join(context, "libs/native/build")), "no locally built addon in the context").toBe(false);
    copyManifests(context, app);
    // The system packages the build stage installs must be here (CI installs them); this
    // machine's npm stands in for the image's (same major version).
    for (const name of aptPackages(stage("deps-cpu"))) expect(debianInstalled(name) ?? true, `${name} installed (apt-get install ${name})`).toBe(true);
    for (const command of runs(stage("deps-cpu")).filter((c) => !c.startsWith("apt-get "))) sh(command, app, 480_000);
    const addon = join(app, "libs/native/build/Release/gap_native.node");
    expect(existsSync(addon), "the oneDNN addon built").toBe(true);
    // The runtime stage installs the package of the very library the addon links to.
    const runtimePackage = packageOfLinkedDnnl(addon);
    if (runtimePackage) expect(aptPackages(stage("cpu"))).toContain(runtimePackage);
    else console.warn("deploy: no ldd or dpkg here; the cpu stage's runtime library is not matched against the addon");
    expect(existsSync(join(app, "node_modules/tsx/package.json")), "tsx installed").toBe(true);
    expect(existsSync(join(app, "node_modules/vitest")), "devDependencies left out").toBe(false);
    for (const name of ["tfjs-node", "tfjs-node-gpu"]) expect(existsSync(join(app, `node_modules/@tensorflow/${name}`)), `no ${name} in the cpu image`).toBe(false);
    cpSync(context, app, { recursive: true, verbatimSymlinks: true });
    for (const name of ["service-kit", "compute", "client"]) expect(lstatSync(join(app, `node_modules/@gap/${name}`)).isSymbolicLink()).toBe(true);

    // The image's environment, on loopback and free ports; the local store instead of MinIO.
    const imageEnv = envOf(stage("cpu"));
    const entrypoint = jsonArgs(all(stage("cpu"), "ENTRYPOINT").at(-1))!;
    const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...imageEnv, [ENV.host]: "127.0.0.1", [ENV.port]: "0", [ENV.metricsPort]: "0", [ENV.storeDir]: join(work, "store") };

    // A ResNet20 training step in the install result, on the native kernels.
    cpSync(join(DEPLOY_DIR, "test/fixtures/resnet20-step.ts"), join(app, "resnet20-step.ts"));
    const step = spawnSync(entrypoint[0]!, [...entrypoint.slice(1), "resnet20-step.ts"], { cwd: app, env: baseEnv, encoding: "utf8", timeout: 120_000 });
    expect(step.status, step.stderr).toBe(0);
    const ran = JSON.parse(step.stdout.trim().split("\n").at(-1)!) as { backend: string; native: { enabled: boolean; onednn?: string; reason?: string }; calls: Record<string, number>; loss: number; seconds: number };
    console.log(`cpu image: ResNet20 training step (batch 16) on ${ran.backend} + oneDNN ${ran.native.onednn}: ${ran.seconds.toFixed(2)} s, loss ${ran.loss.toFixed(3)}`);
    expect(ran.backend).toBe("wasm");
    expect(ran.native.enabled, ran.native.reason).toBe(true);
    for (const kernel of ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "GapBatchNormTrain", "GapBatchNormGrad", "GapSgd"]) expect(ran.calls[kernel] ?? 0, kernel).toBeGreaterThan(0);
    expect(Number.isFinite(ran.loss)).toBe(true);

    const start = (name: ServiceName, env: Record<string, string> = {}) =>
      new Promise<{ address: string; records: Array<Record<string, unknown>> }>((resolve, reject) => {
        const child = spawn(entrypoint[0]!, [...entrypoint.slice(1), `services/${name}/src/main.ts`], { cwd: app, env: { ...baseEnv, ...env }, stdio: ["ignore", "ignore", "pipe"] });
        processes.push(child);
        const records: Array<Record<string, unknown>> = [];
        const lines: string[] = [];
        createInterface({ input: child.stderr! }).on("line", (line) => {
          lines.push(line);
          try {
            const record = JSON.parse(line) as Record<string, unknown>;
            records.push(record);
            if (record.msg === "listening" && record.address) resolve({ address: record.address as string, records });
          } catch {
            // not a log record
          }
        });
        child.once("exit", (code) => reject(new Error(`${name} exited (${code}) before listening:\n${lines.slice(-20).join("\n")}`)));
      });
    const addresses: Partial<Record<ServiceName, string>> = {};
    for (const name of COMPUTE_SERVICES) {
      const { address, records } = await start(name);
      addresses[name] = address;
      const selected = records.find((r) => r.msg === "backend selected") as { backend?: string; native?: { enabled: boolean; reason?: string } } | undefined;
      expect(selected?.backend, name).toBe("wasm");
      expect(selected?.native?.enabled, `${name}: ${selected?.native?.reason}`).toBe(true);
      const check = records.find((r) => r.msg === "self-check passed") as { seconds: number; comparisons: number; worst: string } | undefined;
      expect(check, `${name} self-check passed: ${JSON.stringify(records.find((r) => r.msg === "self-check failed"))}`).toBeDefined();
      expect(check!.comparisons).toBeGreaterThan(0);
      console.log(`cpu image: ${name} self-check passed in ${check!.seconds.toFixed(2)} s (${check!.comparisons} comparisons; closest: ${check!.worst})`);
    }
    addresses.coordinator = (await start("coordinator", Object.fromEntries(COMPUTE_SERVICES.map((n) => [addressesEnvVar(n), addresses[n]!])))).address;
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
