// Handwritten entry point: generated code lives in ./gen and is never edited.
import type { DescFile } from "@bufbuild/protobuf";
import { file_gap_v1_attack } from "./gen/gap/v1/attack_pb.js";
import { file_gap_v1_common } from "./gen/gap/v1/common_pb.js";
import { file_gap_v1_coordinator } from "./gen/gap/v1/coordinator_pb.js";
import { file_gap_v1_evaluation } from "./gen/gap/v1/evaluation_pb.js";
import { file_gap_v1_pruning } from "./gen/gap/v1/pruning_pb.js";
import { file_gap_v1_quantization } from "./gen/gap/v1/quantization_pb.js";
import { file_gap_v1_training } from "./gen/gap/v1/training_pb.js";

export * from "./gen/gap/v1/attack_pb.js";
export * from "./gen/gap/v1/common_pb.js";
export * from "./gen/gap/v1/coordinator_pb.js";
export * from "./gen/gap/v1/evaluation_pb.js";
export * from "./gen/gap/v1/pruning_pb.js";
export * from "./gen/gap/v1/quantization_pb.js";
export * from "./gen/gap/v1/training_pb.js";

/** Every gap.v1 file, for server reflection. */
export const gapFiles: readonly DescFile[] = [
  file_gap_v1_common,
  file_gap_v1_training,
  file_gap_v1_attack,
  file_gap_v1_pruning,
  file_gap_v1_quantization,
  file_gap_v1_evaluation,
  file_gap_v1_coordinator,
];
