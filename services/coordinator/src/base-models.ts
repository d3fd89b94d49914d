import { execFileSync } from "node:child_process";
import { create, toJsonString, type MessageInitShape } from "@bufbuild/protobuf";
import { Architecture, DatasetName, ScheduleKind, Split, TrainRequestSchema, type EvaluationResult } from "@gap/proto";
import { decodeSafetensors, encodeSafetensors } from "@gap/ml-core/no-tf";
import { RESNET20_BASE_WEIGHTS } from "./spec.js";

/** How one committed base model is trained and tested. */
export interface BaseModelRecipe {
  /** Where the weights go, relative to the repository root. */
  file: string;
  /** The training job: model, data and optimiser (its seed included). */
  train: MessageInitShape<typeof TrainRequestSchema>;
  /** The whole test split, for the accuracy recorded in the file. */
  test: { name: DatasetName; split: Split };
}

const CIFAR10 = { numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };

/**
 * The ResNet20 the quick and paper-cpu presets start from: the 10,000 images of
 * CIFAR-10's data_batch_1 (all the training data ../shared/data has), SGD with
 * Nesterov momentum, the reference code's step schedule, crop and flip.
 */
export const BASE_MODELS: Record<string, BaseModelRecipe> = {
  resnet20: {
    file: RESNET20_BASE_WEIGHTS,
    train: {
      model: { architecture: Architecture.RESNET20, ...CIFAR10 },
      fromScratch: true,
      trainData: { name: DatasetName.CIFAR10, split: Split.TRAIN, subsetSize: 10_000 },
      config: {
        epochs: 60,
        batchSize: 128,
        lrSchedule: { kind: ScheduleKind.REFERENCE_CODE_STEP, initialLr: 0.1 },
        momentum: 0.9,
        nesterov: true,
        weightDecay: 5e-4,
        augmentation: { randomCrop: true, cropPadding: 4, horizontalFlip: true },
        seed: 0n,
      },
    },
    test: { name: DatasetName.CIFAR10, split: Split.TEST },
  },
};

/** The commit the code ran at, with "-dirty" when the work tree has changes to tracked files. */
export function sourceCommit(cwd: string): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, encoding: "utf8" }).trim() !== "";
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return "unknown";
  }
}

/**
 * The trained weights with their provenance in the safetensors metadata: the
 * training request (spec, seed, epochs), the test accuracy with its counts, and
 * the commit. The tensors are untouched.
 */
export function withProvenance(weights: Uint8Array, recipe: BaseModelRecipe, test: EvaluationResult, commit: string): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(weights);
  const config = recipe.train.config!;
  return encodeSafetensors(tensors, {
    ...metadata,
    spec: toJsonString(TrainRequestSchema, create(TrainRequestSchema, recipe.train)),
    seed: String(config.seed ?? 0n),
    epochs: String(config.epochs),
    test_data: `${DatasetName[recipe.test.name]} ${Split[recipe.test.split]}`,
    test_accuracy: `${test.accuracy.toFixed(4)} (${test.correct}/${test.total})`,
    commit,
  });
}
