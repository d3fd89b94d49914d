// The gap command (npx gap, or nx run coordinator:experiment for `gap run`).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { create, toJsonString } from "@bufbuild/protobuf";
import { ArtifactKind, ArtifactRefSchema, ResultRowSchema, RunState } from "@gap/proto";
import { GapClient } from "@gap/client";
import { sha256Hex, type ArtifactStore } from "@gap/artifacts";
import { CLI_ENV, ConfigError, coordinatorConfigFromEnv, createLogger, readEnv } from "@gap/service-kit";
import { artifactRef, COMPUTE_VARIABLES, storeFromEnv } from "@gap/compute";
import { applyOverrides, loadSpec, PRESETS, validateSpec } from "./spec.js";
import { STORE_LAYOUT } from "./layout.js";
import { runCommand } from "./cli-run.js";
import { Coordinator } from "./coordinator.js";
import { formatTable } from "./table.js";

const REPO_ROOT = resolve(import.meta.dirname, "../../..");
/** The caller's directory: paths on the command line are relative to it (npx and nx run set INIT_CWD). */
const CALLER_DIR = process.env.INIT_CWD ?? process.cwd();

/** A mistake of the caller's: one line on stderr, exit status 2. */
class UsageError extends Error {}

const COMMON = `
Common options:
  --coordinator host:port   a running coordinator (default: GAP_COORDINATOR_ADDRESS; unset: this machine)
  --work-dir dir            results, logs and the local store (default: GAP_WORK_DIR, else .gap in the repository)
  -h, --help                this text`;

const COMMANDS: Record<string, { usage: string; about: string; options?: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>; run(args: Args): Promise<number> }> = {
  run: {
    usage: "gap run [preset | spec.yaml] [--set field=value]...",
    about: `Runs an experiment: a preset (${Object.keys(PRESETS).join(", ")}; default GAP_SPEC, else quick) or a YAML/JSON spec
file in the ExperimentSpec JSON mapping ("preset: quick" in the file takes the preset's other fields).
--set overrides one field, e.g. --set trials=2 --set fine_tuning.epochs=1 --set compression_ratios=[2,4].
Without --coordinator it starts the services on this machine and copies the report next to the table.`,
    options: { set: { type: "string", multiple: true } },
    run: runExperiment,
  },
  list: { usage: "gap list", about: "Lists the experiments the coordinator (or the local store) knows, with their state.", run: list },
  watch: { usage: "gap watch <experiment-id>", about: "Prints an experiment's events until it ends (needs a running coordinator).", run: watch },
  results: {
    usage: "gap results <experiment-id> [--json]",
    about: "Prints an experiment's result table (the rows known so far), or its rows as JSON.",
    options: { json: { type: "boolean" } },
    run: results,
  },
  report: {
    usage: "gap report <experiment-id> [--out dir]",
    about: "Downloads an experiment's report folder (HTML page, CSV, JSON, Markdown, figures) into dir (default: .gap/reports/<id>).",
    options: { out: { type: "string" } },
    run: report,
  },
  cancel: { usage: "gap cancel <experiment-id>", about: "Cancels a running experiment; finished steps stay stored (needs a running coordinator).", run: cancel },
  import: {
    usage: "gap import weights <file.safetensors> | gap import data <folder> --split train|test [--grayscale]",
    about: `Puts weights or a data set into the store and prints its ArtifactRef (JSON).
weights: a safetensors state_dict, for ExperimentSpec.base_weights.
data: a folder with one subfolder of images per class (PNG, JPEG, WebP, GIF, TIFF; all one size), stored as
one split; name it in a spec as {name: DATASET_NAME_STORED, split: ..., artifact: <the printed ref>}.`,
    options: { split: { type: "string" }, grayscale: { type: "boolean" } },
    run: importCommand,
  },
};

interface Args {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

function help(): string {
  return `gap: compression-robustness experiments (GAP Lab)\n\nCommands:\n${Object.values(COMMANDS)
    .map((c) => `  ${c.usage}`)
    .join("\n")}\n\ngap <command> --help explains one.${COMMON}`;
}

const workDir = (args: Args) => resolve(CALLER_DIR, (args.values["work-dir"] as string | undefined) ?? process.env[CLI_ENV.workDir] ?? join(REPO_ROOT, ".gap"));
const coordinatorOf = (args: Args) => (args.values.coordinator as string | undefined) ?? process.env[CLI_ENV.coordinatorAddress];

/** The store this command reads and writes: S3 when MINIO_ENDPOINT is set, else the work directory's. */
function storeEnv(args: Args): Record<string, string> {
  return process.env.MINIO_ENDPOINT ? {} : { GAP_STORE_DIR: process.env.GAP_STORE_DIR ?? join(workDir(args), "store") };
}
const storeOf = (args: Args) => storeFromEnv({ ...process.env, ...storeEnv(args) });

function experimentIdOf(args: Args): string {
  const id = args.positionals[0];
  if (!id) throw new UsageError("an experiment id is required (gap list shows them)");
  return id;
}

/** Runs `use` against the coordinator named, or, for what the store holds, a coordinator over the local store in this process. */
async function withCoordinator<T>(args: Args, remote: (client: GapClient) => Promise<T>, local?: (coordinator: Coordinator) => Promise<T>): Promise<T> {
  const address = coordinatorOf(args);
  if (!address) {
    if (!local) throw new UsageError("this command needs a running coordinator: --coordinator host:port or GAP_COORDINATOR_ADDRESS");
    const refuse = async () => {
      throw new Error("no compute services: this command only reads the store");
    };
    return local(new Coordinator({ store: storeOf(args), call: refuse, checkWeights: refuse, log: createLogger({ cli: true }, "error"), concurrency: 1 }));
  }
  const client = new GapClient(address);
  try {
    return await remote(client);
  } finally {
    client.close();
  }
}

async function runExperiment(args: Args): Promise<number> {
  // The variables this run hands to its processes are checked before any starts.
  coordinatorConfigFromEnv();
  readEnv(COMPUTE_VARIABLES, process.env);
  const named = args.positionals[0] ?? process.env[CLI_ENV.spec] ?? "quick";
  // A preset, the spec's YAML itself (GAP_SPEC in the Kubernetes Job), or a file relative to the caller.
  const inline = named.includes("\n");
  const source = PRESETS[named] || inline ? named : resolve(CALLER_DIR, named);
  let spec;
  try {
    spec = validateSpec(applyOverrides(loadSpec(source), (args.values.set as string[] | undefined) ?? []));
  } catch (error) {
    throw new UsageError(`bad spec: ${(error as Error).message}`);
  }
  const coordinator = coordinatorOf(args);
  if (coordinator && !process.env.MINIO_ENDPOINT && spec.baseWeights.some((entry) => entry.path !== "")) {
    throw new UsageError("bad spec: spec.base_weights names a local file; uploading it to a remote coordinator's store needs MINIO_ENDPOINT (and its keys)");
  }
  const env = storeEnv(args);
  return runCommand({ spec, source: inline ? "the spec in GAP_SPEC" : named, coordinator, workDir: workDir(args), store: storeFromEnv({ ...process.env, ...env }), env });
}

async function list(args: Args): Promise<number> {
  const experiments = await withCoordinator(args, (c) => c.list(), (c) => c.list());
  if (experiments.length === 0) console.log("no experiments");
  for (const e of experiments) console.log(`${e.experimentId}  ${RunState[e.state].toLowerCase()}  ${e.stepsDone}/${e.stepsTotal} steps  ${e.name}`);
  return 0;
}

async function watch(args: Args): Promise<number> {
  const id = experimentIdOf(args);
  const state = await withCoordinator(args, (c) =>
    c.wait(id, (e) => !e.progress && console.log(`${e.stepsDone}/${e.stepsTotal} ${e.stepId || "experiment"} ${RunState[e.state].toLowerCase()}${e.message ? `: ${e.message}` : ""}`)),
  );
  return state === RunState.SUCCEEDED ? 0 : 1;
}

async function results(args: Args): Promise<number> {
  const id = experimentIdOf(args);
  const rows = await withCoordinator(
    args,
    async (c) => (await c.results(id)).rows,
    async (c) => (await c.results(id)).rows,
  );
  console.log(args.values.json ? `[${rows.map((row) => toJsonString(ResultRowSchema, row)).join(",\n")}]` : formatTable(rows));
  return 0;
}

async function report(args: Args): Promise<number> {
  const id = experimentIdOf(args);
  const files: Array<{ bucket: string; key: string; sha256: string; sizeBytes: bigint }> = await withCoordinator(
    args,
    async (c) => (await c.report(id)).files,
    async (c) => (await c.report(id)).files,
  );
  const store = storeOf(args);
  const out = resolve(CALLER_DIR, (args.values.out as string | undefined) ?? join(workDir(args), "reports", id));
  mkdirSync(out, { recursive: true });
  for (const file of files) writeFileSync(join(out, basename(file.key)), await store.get(file));
  console.log(`${files.length} files in ${out} (the page: ${join(out, basename(files[0]!.key))})`);
  return 0;
}

async function cancel(args: Args): Promise<number> {
  const id = experimentIdOf(args);
  const state = await withCoordinator(args, (c) => c.cancel(id));
  console.log(`${id}: ${RunState[state].toLowerCase()}`);
  return 0;
}

async function importCommand(args: Args): Promise<number> {
  const [what, given] = args.positionals;
  if ((what !== "weights" && what !== "data") || !given) throw new UsageError(`usage: ${COMMANDS.import!.usage}`);
  const path = resolve(CALLER_DIR, given);
  let bytes: Uint8Array;
  let key: (sha256: string) => string;
  if (what === "weights") {
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    key = STORE_LAYOUT.uploadedWeights;
  } else {
    const split = args.values.split;
    if (split !== "train" && split !== "test") throw new UsageError("gap import data needs --split train or --split test");
    const { readImageFolder } = await import("@gap/ml-core/image-folder");
    const { encodeStoredDataset } = await import("@gap/ml-core");
    let data;
    try {
      data = await readImageFolder(path, { channels: args.values.grayscale ? 1 : 3 });
    } catch (error) {
      throw new UsageError(`import: ${(error as Error).message}`);
    }
    bytes = encodeStoredDataset(data, split);
    key = STORE_LAYOUT.uploadedDataset;
    console.error(`${data.labels.length} images of ${data.height}x${data.width}x${data.channels} in ${data.classNames.length} classes (${data.classNames.join(", ")})`);
  }
  const store: ArtifactStore = storeOf(args);
  const stored = await store.put(key(sha256Hex(bytes)), bytes);
  console.log(toJsonString(ArtifactRefSchema, create(ArtifactRefSchema, artifactRef(stored, what === "weights" ? ArtifactKind.WEIGHTS : ArtifactKind.DATASET))));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}" (gap --help lists them)`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { ...command.options, coordinator: { type: "string" }, "work-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (gap ${name} --help)`);
  }
  if (parsed.values.help) {
    console.log(`${command.usage}\n\n${command.about}\n${COMMON}`);
    return 0;
  }
  return command.run(parsed as Args);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const status = error instanceof UsageError || error instanceof ConfigError ? 2 : 1;
  const prefix = error instanceof ConfigError ? "configuration error: " : error instanceof UsageError ? "" : "gap: ";
  // gRPC errors read "5 NOT_FOUND: details": keep the details.
  console.error(`${prefix}${(error as Error).message}`.split("\n")[0]);
  process.exitCode = status;
}
