import { Architecture, AttackMethod, DatasetName, InputSpace, LabelMode, Norm, PruningScope, PruningStrategy, PruningVariant, ScheduleKind, Split, type AttackConfig, type DatasetRef, type InputShape, type ModelSpec, type QuantizationConfig, type StrategyScope, type TrainingConfig } from "@gap/proto";
import { enumValue, integerInRange, invalidArgument, numberInRange, required } from "@gap/service-kit";
import type { ArchitectureName, ModelConfig, TrainOptions } from "@gap/ml-core";
import type { AttackParameters, Variant } from "@gap/algorithms";
import { scopeProblem, type Scope, type StrategyName } from "@gap/algorithms/no-tf";

/** Proto enum values to the libs' names; one table per enum, used both ways. */
export const ARCHITECTURE_NAMES: Record<Architecture, ArchitectureName | undefined> = {
  [Architecture.UNSPECIFIED]: undefined,
  [Architecture.RESNET20]: "resnet20",
  [Architecture.RESNET32]: "resnet32",
  [Architecture.RESNET44]: "resnet44",
  [Architecture.RESNET56]: "resnet56",
  [Architecture.RESNET110]: "resnet110",
  [Architecture.VGG_BN_DROP]: "vgg_bn_drop",
  [Architecture.GOOGLENET]: "googlenet",
  [Architecture.MOBILENET_V2]: "mobilenet_v2",
};
export const STRATEGY_NAMES: Record<PruningStrategy, StrategyName | undefined> = {
  [PruningStrategy.UNSPECIFIED]: undefined,
  [PruningStrategy.RANDOM]: "random",
  [PruningStrategy.MAGNITUDE]: "magnitude",
  [PruningStrategy.GRADIENT]: "gradient",
  [PruningStrategy.GAP]: "gap",
};
export const SCOPE_NAMES: Record<PruningScope, Scope | undefined> = {
  [PruningScope.UNSPECIFIED]: undefined,
  [PruningScope.GLOBAL]: "global",
  [PruningScope.LAYER]: "layer",
};
const VARIANT_NAMES: Record<PruningVariant, Variant | undefined> = {
  [PruningVariant.UNSPECIFIED]: undefined,
  [PruningVariant.PAPER]: "paper",
  [PruningVariant.REFERENCE_CODE]: "reference_code",
};
const SCHEDULE_NAMES = {
  [ScheduleKind.UNSPECIFIED]: undefined,
  [ScheduleKind.CONSTANT]: "constant",
  [ScheduleKind.PAPER_STEP]: "paper_step",
  [ScheduleKind.REFERENCE_CODE_STEP]: "reference_code_step",
} as const;

function named<E extends number, N>(table: Record<E, N | undefined>, value: E, field: string, enumObject: Record<number, string>): N {
  return table[enumValue(value, field, enumObject)]!;
}

/** Largest batch a call may ask for: bounds memory per request. */
export const MAX_BATCH_SIZE = 4096;

/**
 * The batch sizes a request may leave unset (0), as the proto comments give
 * them: AttackConfig.batch_size, EvaluateRequest.batch_size (and
 * ExperimentSpec.eval_batch_size), PruneRequest.batch_size.
 */
export const DEFAULT_BATCH_SIZE = { attack: 128, evaluation: 256, pruning: 128 } as const;

/** The only bit width QuantizationConfig.bits takes, and its default. */
export const QUANTIZATION_BITS = 8;
/** Largest QuantizationConfig.calibration_size. */
export const MAX_CALIBRATION_SIZE = 1_000_000;

export function architectureOf(value: Architecture, field: string): ArchitectureName {
  return named(ARCHITECTURE_NAMES, value, field, Architecture);
}

export function numClassesOf(value: number, field: string): number {
  return integerInRange(value, field, 2, 1000);
}

export function inputShapeOf(value: InputShape | undefined, field: string): ModelConfig["inputShape"] {
  const shape = required(value, field);
  const inputShape = {
    height: integerInRange(shape.height, `${field}.height`, 8, 512),
    width: integerInRange(shape.width, `${field}.width`, 8, 512),
    channels: integerInRange(shape.channels, `${field}.channels`, 1, 3),
  };
  if (inputShape.channels === 2) throw invalidArgument(`${field}.channels`, "must be 1 or 3, got 2");
  return inputShape;
}

export function modelConfig(spec: ModelSpec | undefined, field: string): ModelConfig {
  const model = required(spec, field);
  return {
    architecture: architectureOf(model.architecture, `${field}.architecture`),
    numClasses: numClassesOf(model.numClasses, `${field}.num_classes`),
    inputShape: inputShapeOf(model.inputShape, `${field}.input_shape`),
  };
}

export function seedOf(value: bigint, field: string): number {
  if (value < 0n || value > 0xffffffffn) throw invalidArgument(field, `must fit in 32 bits, got ${value}`);
  return Number(value);
}

/** A batch size in [1, MAX_BATCH_SIZE]; 0 (not set) is the default when the field has one, else INVALID_ARGUMENT. */
export function batchSizeOf(value: number, field: string, defaultSize?: number): number {
  if (value === 0 && defaultSize !== undefined) return defaultSize;
  return integerInRange(value, field, 1, MAX_BATCH_SIZE);
}

export function trainOptions(config: TrainingConfig | undefined, field: string): Omit<TrainOptions, "masks" | "signal" | "onProgress"> {
  const c = required(config, field);
  const schedule = required(c.lrSchedule, `${field}.lr_schedule`);
  const augmentation = c.augmentation;
  const cropPadding = integerInRange(augmentation?.cropPadding ?? 0, `${field}.augmentation.crop_padding`, 0, 16);
  const momentum = numberInRange(c.momentum, `${field}.momentum`, 0, 0.999);
  // Nesterov without momentum: the momentum is what is missing (0 is "not set").
  if (c.nesterov && momentum === 0) throw invalidArgument(`${field}.momentum`, "must be > 0 when nesterov is set");
  return {
    epochs: integerInRange(c.epochs, `${field}.epochs`, 1, 10_000),
    batchSize: batchSizeOf(c.batchSize, `${field}.batch_size`),
    schedule: {
      kind: named(SCHEDULE_NAMES, schedule.kind, `${field}.lr_schedule.kind`, ScheduleKind),
      initialLr: numberInRange(schedule.initialLr, `${field}.lr_schedule.initial_lr`, 0, 10, { minExclusive: true }),
    },
    momentum,
    nesterov: c.nesterov,
    weightDecay: numberInRange(c.weightDecay, `${field}.weight_decay`, 0, 1),
    augmentation:
      augmentation && (augmentation.randomCrop || augmentation.horizontalFlip)
        ? {
            randomCrop: augmentation.randomCrop,
            padding: cropPadding,
            horizontalFlip: augmentation.horizontalFlip,
          }
        : false,
    seed: seedOf(c.seed, `${field}.seed`),
  };
}

export function attackParameters(config: AttackConfig | undefined, field: string): AttackParameters {
  const c = required(config, field);
  const method = enumValue(c.method, `${field}.method`, AttackMethod) === AttackMethod.PGD ? "pgd" : "fgsm";
  enumValue(c.norm, `${field}.norm`, Norm);
  const eps = numberInRange(c.eps, `${field}.eps`, 0, 1, { minExclusive: true });
  return {
    method,
    eps,
    stepSize: method === "pgd" ? numberInRange(c.stepSize, `${field}.step_size`, 0, 1, { minExclusive: true }) : eps,
    steps: method === "pgd" ? integerInRange(c.steps, `${field}.steps`, 1, 1000) : 1,
    randomStart: method === "pgd" && c.randomStart,
    labelMode: enumValue(c.labelMode, `${field}.label_mode`, LabelMode) === LabelMode.TRUE ? "true" : "predicted",
    inputSpace: enumValue(c.inputSpace, `${field}.input_space`, InputSpace) === InputSpace.PIXEL ? "pixel" : "normalized",
    batchSize: batchSizeOf(c.batchSize, `${field}.batch_size`, DEFAULT_BATCH_SIZE.attack),
    seed: seedOf(c.seed, `${field}.seed`),
  };
}

/** QuantizationConfig with its defaults: bits 8 (the only width), per_channel false. */
export function quantizationSettings(config: QuantizationConfig | undefined, field: string): { bits: number; perChannel: boolean; calibrationSize: number } {
  const c = required(config, field);
  if (c.bits !== 0 && c.bits !== QUANTIZATION_BITS) throw invalidArgument(`${field}.bits`, `only ${QUANTIZATION_BITS} is supported, got ${c.bits}`);
  return {
    bits: QUANTIZATION_BITS,
    perChannel: c.perChannel,
    calibrationSize: integerInRange(c.calibrationSize, `${field}.calibration_size`, 1, MAX_CALIBRATION_SIZE),
  };
}

/** A strategy and a scope it has (INVALID_ARGUMENT naming the field otherwise). */
export function strategyOf(value: StrategyScope | undefined, field: string): { strategy: StrategyName; scope: Scope } {
  const s = required(value, field);
  const strategy = named(STRATEGY_NAMES, s.strategy, `${field}.strategy`, PruningStrategy);
  const scope = named(SCOPE_NAMES, s.scope, `${field}.scope`, PruningScope);
  const problem = scopeProblem(strategy, scope);
  if (problem) throw invalidArgument(`${field}.scope`, problem);
  return { strategy, scope };
}

export function variantOf(value: PruningVariant, field: string): Variant {
  return named(VARIANT_NAMES, value, field, PruningVariant);
}

/** Largest DatasetRef.subset_size (and the limits in ExperimentSpec that draw subsets). */
export const MAX_SUBSET_SIZE = 10_000_000;

/** A DatasetRef's fields checked, without loading anything. */
export function datasetRefOf(
  ref: DatasetRef | undefined,
  field: string,
): { ref: DatasetRef; name: DatasetName; split: "train" | "test"; subsetSize: number; seed: number } {
  const r = required(ref, field);
  const name = enumValue(r.name, `${field}.name`, DatasetName);
  if (name === DatasetName.STORED && !r.artifact?.key) throw invalidArgument(`${field}.artifact.key`, "is required for DATASET_NAME_STORED");
  return {
    ref: r,
    name,
    split: enumValue(r.split, `${field}.split`, Split) === Split.TRAIN ? "train" : "test",
    subsetSize: integerInRange(r.subsetSize, `${field}.subset_size`, 0, MAX_SUBSET_SIZE),
    seed: seedOf(r.seed, `${field}.seed`),
  };
}
