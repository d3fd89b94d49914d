import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { clone, create, fromJson, toBinary, toJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { parse as parseYaml } from "yaml";
import { Architecture, AttackMethod, DatasetName, ExperimentSpecSchema, InputSpace, LabelMode, Norm, PruningScope, PruningStrategy, PruningVariant, ScheduleKind, Split, type ExperimentSpec } from "@gap/proto";
import { enumValue, integerInRange, invalidArgument, nonEmptyList, nonEmptyString, numberInRange, required } from "@gap/service-kit";
import {
  architectureOf,
  attackParameters,
  batchSizeOf,
  datasetRefOf,
  DEFAULT_BATCH_SIZE,
  inputShapeOf,
  MAX_SUBSET_SIZE,
  numClassesOf,
  quantizationSettings,
  seedOf,
  strategyOf,
  trainOptions,
  variantOf,
} from "@gap/compute/no-tf";
import { stepCount } from "./graph.js";
import { createHash } from "node:crypto";

type SpecInit = MessageInitShape<typeof ExperimentSpecSchema>;

const ALL_STRATEGIES: SpecInit["strategies"] = [
  { strategy: PruningStrategy.RANDOM, scope: PruningScope.GLOBAL },
  { strategy: PruningStrategy.MAGNITUDE, scope: PruningScope.GLOBAL },
  { strategy: PruningStrategy.MAGNITUDE, scope: PruningScope.LAYER },
  { strategy: PruningStrategy.GRADIENT, scope: PruningScope.GLOBAL },
  { strategy: PruningStrategy.GRADIENT, scope: PruningScope.LAYER },
  { strategy: PruningStrategy.GAP, scope: PruningScope.GLOBAL },
  { strategy: PruningStrategy.GAP, scope: PruningScope.LAYER },
];

const PAPER_ATTACK = {
  method: AttackMethod.PGD,
  norm: Norm.LINF,
  eps: 8 / 255,
  stepSize: 2 / 255,
  steps: 10,
  randomStart: true,
  labelMode: LabelMode.TRUE,
  inputSpace: InputSpace.PIXEL,
  batchSize: 128,
  seed: 0n,
};
const AUGMENT = { randomCrop: true, cropPadding: 4, horizontalFlip: true };
const PAPER_TRAINING = {
  epochs: 300,
  batchSize: 256,
  lrSchedule: { kind: ScheduleKind.PAPER_STEP, initialLr: 0.1 },
  momentum: 0.9,
  nesterov: true,
  weightDecay: 1e-4,
  augmentation: AUGMENT,
};
const PAPER_FINE_TUNING = { ...PAPER_TRAINING, epochs: 40, lrSchedule: { kind: ScheduleKind.CONSTANT, initialLr: 1e-3 } };

/**
 * The paper's grid and hyperparameters (Section III): 4 architectures x 7
 * strategy/scope pairs x 5 ratios x 3 trials; 300 epochs of SGD, lr 0.1 / 10
 * at 1/4 and 1/2, batch 256; fine-tuning 40 epochs at lr 1e-3; PGD eps 8/255,
 * step 2/255, 10 steps, random start; adversarial sets from the training data.
 */
export const PAPER_PRESET: SpecInit = {
  name: "paper",
  architectures: [Architecture.RESNET20, Architecture.VGG_BN_DROP, Architecture.GOOGLENET, Architecture.MOBILENET_V2],
  strategies: ALL_STRATEGIES,
  compressionRatios: [2, 4, 8, 16, 32],
  trials: 3,
  trainData: { name: DatasetName.CIFAR10, split: Split.TRAIN },
  testData: { name: DatasetName.CIFAR10, split: Split.TEST },
  training: PAPER_TRAINING,
  fineTuning: PAPER_FINE_TUNING,
  attack: PAPER_ATTACK,
  attackLimit: 0,
  heldOutLimit: 1000,
  quantization: { bits: 8, perChannel: true, calibrationSize: 1024 },
  variant: PruningVariant.PAPER,
  seed: 0n,
  numClasses: 10,
  inputShape: { height: 32, width: 32, channels: 3 },
  evalBatchSize: 256,
};

/** The ResNet20 this project trained (nx run coordinator:train-base), relative to the repository root. */
export const RESNET20_BASE_WEIGHTS = "models/resnet20-cifar10.safetensors";
const RESNET20_FROM_BASE = {
  architectures: [Architecture.RESNET20],
  baseWeights: [{ architecture: Architecture.RESNET20, path: RESNET20_BASE_WEIGHTS }],
};

/**
 * A few minutes on a 2-core laptop: the committed ResNet20 pruned by all seven
 * strategy/scope pairs at ratios 2, 8 and 32 on the committed CIFAR-10 sample
 * (fine-tuning on its 2,000 training images, clean accuracy on its 1,000 test
 * images), the paper's attack on a few hundred inputs, one trial.
 */
export const QUICK_PRESET: SpecInit = {
  ...PAPER_PRESET,
  ...RESNET20_FROM_BASE,
  name: "quick",
  compressionRatios: [2, 8, 32],
  trials: 1,
  trainData: { name: DatasetName.CIFAR10_SAMPLE, split: Split.TRAIN },
  testData: { name: DatasetName.CIFAR10_SAMPLE, split: Split.TEST },
  training: { ...PAPER_TRAINING, epochs: 5, batchSize: 128 },
  fineTuning: { ...PAPER_FINE_TUNING, epochs: 2, batchSize: 128, lrSchedule: { kind: ScheduleKind.CONSTANT, initialLr: 1e-2 } },
  attackLimit: 256,
  heldOutLimit: 256,
  quantization: { bits: 8, perChannel: true, calibrationSize: 128 },
};

/**
 * The paper's protocol at the scale of one 2-core machine (under three hours):
 * the committed ResNet20, all seven pairs at ratios 2 to 32, three trials;
 * fine-tuning 2 epochs on 10,000 training images (3 did not fit the three
 * hours); PGD-10 on 1,000 training inputs (the
 * transfer and scoring set) and 1,000 held-out test inputs; clean accuracy on
 * the whole test split.
 */
export const PAPER_CPU_PRESET: SpecInit = {
  ...PAPER_PRESET,
  ...RESNET20_FROM_BASE,
  name: "paper-cpu",
  trainData: { name: DatasetName.CIFAR10, split: Split.TRAIN, subsetSize: 10_000 },
  testData: { name: DatasetName.CIFAR10, split: Split.TEST },
  training: { ...PAPER_TRAINING, batchSize: 128 },
  fineTuning: { ...PAPER_FINE_TUNING, epochs: 2, batchSize: 128, lrSchedule: { kind: ScheduleKind.CONSTANT, initialLr: 1e-2 } },
  attackLimit: 1000,
  heldOutLimit: 1000,
};

export const PRESETS: Record<string, SpecInit> = { quick: QUICK_PRESET, "paper-cpu": PAPER_CPU_PRESET, paper: PAPER_PRESET };

const REPO_ROOT = resolve(import.meta.dirname, "../../..");

/**
 * A spec from a preset name, a YAML/JSON file in the proto JSON mapping
 * (camelCase or snake_case), or that YAML's text itself (anything with a line
 * break). Base-weights paths become absolute: a preset's against the
 * repository root, a file's against the file's directory, the text's against
 * the working directory.
 */
export function loadSpec(presetOrPath: string): ExperimentSpec {
  const presetSpec = (name: string) => {
    const preset = PRESETS[name];
    return preset ? withAbsolutePaths(create(ExperimentSpecSchema, preset), REPO_ROOT) : undefined;
  };
  const preset = presetSpec(presetOrPath);
  if (preset) return preset;
  // Text with a line break is the spec itself (a Kubernetes Job carries it in GAP_SPEC); relative paths are from the working directory.
  const inline = presetOrPath.includes("\n");
  const where = inline ? "the spec text" : presetOrPath;
  let parsed: unknown;
  try {
    parsed = parseYaml(inline ? presetOrPath : readFileSync(presetOrPath, "utf8"));
  } catch (error) {
    throw new Error(`cannot read spec "${where}" (not a preset: ${Object.keys(PRESETS).join(", ")}): ${(error as Error).message}`);
  }
  const { preset: base, ...overrides } = (parsed ?? {}) as { preset?: string } & Record<string, JsonValue>;
  const start = base ? presetSpec(base) : undefined;
  if (base && !start) throw new Error(`${where}: unknown preset "${base}"`);
  try {
    const spec = withAbsolutePaths(fromJson(ExperimentSpecSchema, overrides as JsonValue), inline ? process.cwd() : dirname(resolve(presetOrPath)));
    return start ? mergeSpec(start, spec, overrides) : spec;
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
}

/**
 * The spec with `field=value` overrides applied in the proto JSON mapping:
 * a dotted path of camelCase or snake_case names, and a YAML value
 * ("trials=2", "fine_tuning.epochs=1", "compression_ratios=[2,4]").
 */
export function applyOverrides(spec: ExperimentSpec, overrides: readonly string[]): ExperimentSpec {
  if (overrides.length === 0) return spec;
  const json = toJson(ExperimentSpecSchema, spec) as Record<string, JsonValue>;
  const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const override of overrides) {
    const at = override.indexOf("=");
    if (at <= 0) throw new Error(`--set ${override}: expected field=value`);
    const path = override.slice(0, at).split(".").map(camel);
    let node = json;
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null || Array.isArray(node[key])) node[key] = {};
      node = node[key] as Record<string, JsonValue>;
    }
    node[path.at(-1)!] = parseYaml(override.slice(at + 1)) as JsonValue;
  }
  try {
    return fromJson(ExperimentSpecSchema, json);
  } catch (error) {
    throw new Error(`--set: ${(error as Error).message}`);
  }
}

function withAbsolutePaths(spec: ExperimentSpec, base: string): ExperimentSpec {
  for (const entry of spec.baseWeights) if (entry.path !== "" && !isAbsolute(entry.path)) entry.path = resolve(base, entry.path);
  return spec;
}

/** Fields given in the file replace the preset's (whole messages, not field by field). */
function mergeSpec(base: ExperimentSpec, spec: ExperimentSpec, given: Record<string, unknown>): ExperimentSpec {
  const merged = { ...base } as Record<string, unknown>;
  const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const key of Object.keys(given)) merged[camel(key)] = (spec as unknown as Record<string, unknown>)[camel(key)];
  return merged as unknown as ExperimentSpec;
}

/** The largest graph a spec may make: the paper's full grid is 5,136 steps. */
export const MAX_STEPS = 20_000;

/** The index of the first value equal to an earlier one, or -1. */
function firstDuplicate<T>(values: readonly T[], key: (value: T) => string = String): number {
  const seen = new Set<string>();
  for (const [i, value] of values.entries()) {
    if (seen.has(key(value))) return i;
    seen.add(key(value));
  }
  return -1;
}

/**
 * Validates every field (INVALID_ARGUMENT naming it by its path, such as
 * spec.training.momentum) and returns a copy with the defaults of the optional
 * fields not set filled in, as the proto comments give them: the same
 * experiment whether a default is sent or left out.
 */
export function validateSpec(spec: ExperimentSpec | undefined): ExperimentSpec {
  const s = required(spec, "spec");
  nonEmptyString(s.name, "spec.name", 200);
  nonEmptyList(s.architectures, "spec.architectures");
  nonEmptyList(s.strategies, "spec.strategies");
  nonEmptyList(s.compressionRatios, "spec.compression_ratios");
  const lists = [
    ["spec.architectures", firstDuplicate(s.architectures)],
    ["spec.strategies", firstDuplicate(s.strategies, (p) => `${p.strategy}/${p.scope}`)],
    ["spec.compression_ratios", firstDuplicate(s.compressionRatios)],
  ] as const;
  for (const [field, at] of lists) if (at >= 0) throw invalidArgument(`${field}[${at}]`, "repeats an earlier entry");
  s.architectures.forEach((a, i) => architectureOf(a, `spec.architectures[${i}]`));
  s.strategies.forEach((pair, i) => strategyOf(pair, `spec.strategies[${i}]`));
  s.compressionRatios.forEach((p, i) => numberInRange(p, `spec.compression_ratios[${i}]`, 1, 1e6, { minExclusive: true }));
  integerInRange(s.trials, "spec.trials", 1, 100);
  datasetRefOf(s.trainData, "spec.train_data");
  datasetRefOf(s.testData, "spec.test_data");
  trainOptions(s.training, "spec.training");
  trainOptions(s.fineTuning, "spec.fine_tuning");
  const attack = attackParameters(s.attack, "spec.attack");
  integerInRange(s.attackLimit, "spec.attack_limit", 0, MAX_SUBSET_SIZE);
  integerInRange(s.heldOutLimit, "spec.held_out_limit", 0, MAX_SUBSET_SIZE);
  const quantization = quantizationSettings(s.quantization, "spec.quantization");
  variantOf(s.variant, "spec.variant");
  seedOf(s.seed, "spec.seed");
  numClassesOf(s.numClasses, "spec.num_classes");
  inputShapeOf(s.inputShape, "spec.input_shape");
  const evalBatchSize = batchSizeOf(s.evalBatchSize, "spec.eval_batch_size", DEFAULT_BATCH_SIZE.evaluation);
  integerInRange(s.fineTuningSubsetSize, "spec.fine_tuning_subset_size", 0, MAX_SUBSET_SIZE);
  const withWeights = new Set<Architecture>();
  s.baseWeights.forEach((entry, i) => {
    const field = `spec.base_weights[${i}]`;
    const architecture = enumValue(entry.architecture, `${field}.architecture`, Architecture);
    if (!s.architectures.includes(architecture)) throw invalidArgument(`${field}.architecture`, `${Architecture[architecture]} is not one of spec.architectures`);
    if (withWeights.has(architecture)) throw invalidArgument(`${field}.architecture`, `${Architecture[architecture]} has base weights already`);
    withWeights.add(architecture);
    if (entry.path !== "" && entry.weights?.key) throw invalidArgument(`${field}.path`, "give either path or weights, not both");
    if (entry.path === "" && !entry.weights?.key) throw invalidArgument(`${field}.weights`, "is required (or a path for the CLI to upload)");
  });
  const steps = stepCount(s);
  if (steps > MAX_STEPS) throw invalidArgument("spec", `makes ${steps} steps, more than the ${MAX_STEPS} one experiment may have; split the grid`);

  const filled = clone(ExperimentSpecSchema, s);
  filled.attack!.batchSize = attack.batchSize;
  filled.quantization!.bits = quantization.bits;
  filled.evalBatchSize = evalBatchSize;
  return filled;
}

/** The experiment's id: the hash of its spec, so the same spec resumes the same experiment. */
export function experimentId(spec: ExperimentSpec): string {
  const digest = createHash("sha256").update(toBinary(ExperimentSpecSchema, spec)).digest("hex");
  return `${spec.name.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40)}-${digest.slice(0, 12)}`;
}
