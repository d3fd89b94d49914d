import {
  Architecture,
  AttackMethod,
  InputSpace,
  LabelMode,
  Norm,
  PruningScope,
  PruningStrategy,
  PruningVariant,
  ScheduleKind,
  type AttackConfig,
  type ModelSpec,
  type StrategyScope,
  type TrainingConfig,
} from "@gap/proto";
import { enumValue, integerInRange, invalidArgument, numberInRange, required } from "@gap/service-kit";
import type { ArchitectureName, ModelConfig, TrainOptions } from "@gap/ml-core";
import { scopeProblem, type AttackParameters, type Scope, type StrategyName, type Variant } from "@gap/algorithms";

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

export function modelConfig(spec: ModelSpec | undefined, field: string): ModelConfig {
  const model = required(spec, field);
  const architecture = named(ARCHITECTURE_NAMES, model.architecture, `${field}.architecture`, Architecture);
  const numClasses = integerInRange(model.numClasses, `${field}.num_classes`, 2, 1000);
  const shape = required(model.inputShape, `${field}.input_shape`);
  const inputShape = {
    height: integerInRange(shape.height, `${field}.input_shape.height`, 8, 512),
    width: integerInRange(shape.width, `${field}.input_shape.width`, 8, 512),
    channels: integerInRange(shape.channels, `${field}.input_shape.channels`, 1, 3),
  };
  if (inputShape.channels === 2) throw invalidArgument(`${field}.input_shape.channels`, "must be 1 or 3");
  return { architecture, numClasses, inputShape };
}

export function seedOf(value: bigint, field: string): number {
  if (value < 0n || value > 0xffffffffn) throw invalidArgument(field, `must fit in 32 bits, got ${value}`);
  return Number(value);
}

export function batchSizeOf(value: number, field: string, fallback?: number): number {
  if (value === 0 && fallback !== undefined) return fallback;
  return integerInRange(value, field, 1, MAX_BATCH_SIZE);
}

export function trainOptions(config: TrainingConfig | undefined, field: string): Omit<TrainOptions, "masks" | "signal" | "onProgress"> {
  const c = required(config, field);
  const schedule = required(c.lrSchedule, `${field}.lr_schedule`);
  const augmentation = c.augmentation;
  const momentum = numberInRange(c.momentum, `${field}.momentum`, 0, 0.999);
  if (c.nesterov && momentum === 0) throw invalidArgument(`${field}.nesterov`, "needs momentum > 0");
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
            padding: integerInRange(augmentation.cropPadding, `${field}.augmentation.crop_padding`, 0, 16),
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
    batchSize: batchSizeOf(c.batchSize, `${field}.batch_size`, 128),
    seed: seedOf(c.seed, `${field}.seed`),
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
