import { Architecture, AttackMethod, DatasetName, InputSpace, LabelMode, Norm, PruningScope, PruningStrategy, PruningVariant, ScheduleKind, Split } from "@gap/proto";
import type { ExperimentSpecInit } from "@gap/client";

const TRAINING = {
  epochs: 1,
  batchSize: 32,
  lrSchedule: { kind: ScheduleKind.CONSTANT, initialLr: 0.05 },
  momentum: 0.9,
  nesterov: true,
  weightDecay: 1e-4,
  augmentation: { randomCrop: true, cropPadding: 4, horizontalFlip: true },
};

/** ResNet20 on a few synthetic images: every kind of step, in a minute or two. */
export function tinySpec(name: string): ExperimentSpecInit {
  return {
    name,
    architectures: [Architecture.RESNET20],
    strategies: [
      { strategy: PruningStrategy.MAGNITUDE, scope: PruningScope.GLOBAL },
      { strategy: PruningStrategy.GRADIENT, scope: PruningScope.LAYER },
      { strategy: PruningStrategy.GAP, scope: PruningScope.GLOBAL },
    ],
    compressionRatios: [2],
    trials: 1,
    trainData: { name: DatasetName.SYNTHETIC, split: Split.TRAIN, subsetSize: 64 },
    testData: { name: DatasetName.SYNTHETIC, split: Split.TEST, subsetSize: 48 },
    training: TRAINING,
    fineTuning: { ...TRAINING, lrSchedule: { kind: ScheduleKind.CONSTANT, initialLr: 0.01 } },
    attack: {
      method: AttackMethod.PGD,
      norm: Norm.LINF,
      eps: 8 / 255,
      stepSize: 2 / 255,
      steps: 2,
      randomStart: true,
      labelMode: LabelMode.TRUE,
      inputSpace: InputSpace.PIXEL,
      batchSize: 32,
    },
    attackLimit: 32,
    heldOutLimit: 16,
    quantization: { bits: 8, perChannel: true, calibrationSize: 32 },
    variant: PruningVariant.PAPER,
    seed: 1n,
    numClasses: 10,
    inputShape: { height: 32, width: 32, channels: 3 },
    evalBatchSize: 64,
  };
}
