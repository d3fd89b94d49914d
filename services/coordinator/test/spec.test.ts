import { clone, create } from "@bufbuild/protobuf";
import { ExperimentSpecSchema, type Architecture, type ExperimentSpec } from "@gap/proto";
import { status } from "@gap/service-kit";
import { describe, expect, it } from "vitest";
import { experimentId, PRESETS, validateSpec } from "../src/index.js";

const quick = () => create(ExperimentSpecSchema, PRESETS.quick!);
/** The quick preset with one change. */
const changed = (change: (s: ExperimentSpec) => void) => {
  const s = clone(ExperimentSpecSchema, quick());
  change(s);
  return s;
};
/** The INVALID_ARGUMENT validateSpec throws, as "<field>: <problem>". */
function rejection(spec: ExperimentSpec): string {
  try {
    validateSpec(spec);
  } catch (error) {
    expect((error as { code?: number }).code).toBe(status.INVALID_ARGUMENT);
    return (error as Error).message;
  }
  throw new Error("validateSpec accepted the spec");
}

describe("spec validation names the field that is wrong, by its proto path", () => {
  // Every required field, cleared (its zero value is "not set").
  const required: Array<[string, (s: ExperimentSpec) => void]> = [
    ["spec.name", (s) => (s.name = "")],
    ["spec.architectures", (s) => (s.architectures = [])],
    ["spec.strategies", (s) => (s.strategies = [])],
    ["spec.compression_ratios", (s) => (s.compressionRatios = [])],
    ["spec.trials", (s) => (s.trials = 0)],
    ["spec.train_data", (s) => (s.trainData = undefined)],
    ["spec.train_data.name", (s) => (s.trainData!.name = 0)],
    ["spec.test_data", (s) => (s.testData = undefined)],
    ["spec.test_data.split", (s) => (s.testData!.split = 0)],
    ["spec.training", (s) => (s.training = undefined)],
    ["spec.training.epochs", (s) => (s.training!.epochs = 0)],
    ["spec.training.batch_size", (s) => (s.training!.batchSize = 0)],
    ["spec.training.lr_schedule", (s) => (s.training!.lrSchedule = undefined)],
    ["spec.training.lr_schedule.initial_lr", (s) => (s.training!.lrSchedule!.initialLr = 0)],
    ["spec.fine_tuning", (s) => (s.fineTuning = undefined)],
    ["spec.fine_tuning.lr_schedule.kind", (s) => (s.fineTuning!.lrSchedule!.kind = 0)],
    ["spec.attack", (s) => (s.attack = undefined)],
    ["spec.attack.method", (s) => (s.attack!.method = 0)],
    ["spec.attack.norm", (s) => (s.attack!.norm = 0)],
    ["spec.attack.eps", (s) => (s.attack!.eps = 0)],
    ["spec.attack.step_size", (s) => (s.attack!.stepSize = 0)],
    ["spec.attack.steps", (s) => (s.attack!.steps = 0)],
    ["spec.attack.label_mode", (s) => (s.attack!.labelMode = 0)],
    ["spec.attack.input_space", (s) => (s.attack!.inputSpace = 0)],
    ["spec.quantization", (s) => (s.quantization = undefined)],
    ["spec.quantization.calibration_size", (s) => (s.quantization!.calibrationSize = 0)],
    ["spec.variant", (s) => (s.variant = 0)],
    ["spec.num_classes", (s) => (s.numClasses = 0)],
    ["spec.input_shape", (s) => (s.inputShape = undefined)],
    ["spec.input_shape.height", (s) => (s.inputShape!.height = 0)],
    ["spec.input_shape.channels", (s) => (s.inputShape!.channels = 0)],
    ["spec.base_weights[0].architecture", (s) => (s.baseWeights[0]!.architecture = 0)],
    ["spec.base_weights[0].weights", (s) => (s.baseWeights[0]!.path = "")],
  ];
  for (const [field, clear] of required) {
    it(`${field} not set: "${field}: is required..."`, () => {
      expect(rejection(changed(clear))).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, "\\$&")}: is required`));
    });
  }

  it("a cleared momentum under Nesterov names the momentum, not nesterov", () => {
    expect(rejection(changed((s) => (s.training!.momentum = 0)))).toBe("spec.training.momentum: must be > 0 when nesterov is set");
    expect(rejection(changed((s) => (s.fineTuning!.momentum = 0)))).toBe("spec.fine_tuning.momentum: must be > 0 when nesterov is set");
    // Without Nesterov, momentum 0 is plain SGD: the default.
    expect(() => validateSpec(changed((s) => Object.assign(s.training!, { momentum: 0, nesterov: false })))).not.toThrow();
  });

  it("model fields are the spec's own, not fields of an architecture entry", () => {
    expect(rejection(changed((s) => (s.numClasses = 1001)))).toBe("spec.num_classes: must be an integer in [2, 1000], got 1001");
    expect(rejection(changed((s) => (s.inputShape!.channels = 2)))).toBe("spec.input_shape.channels: must be 1 or 3, got 2");
    expect(rejection(changed((s) => (s.architectures = [s.architectures[0]!, 99 as Architecture])))).toBe("spec.architectures[1]: unknown value 99");
  });

  it("values out of range name their field", () => {
    expect(rejection(changed((s) => (s.attack!.batchSize = 5000)))).toBe("spec.attack.batch_size: must be an integer in [1, 4096], got 5000");
    expect(rejection(changed((s) => (s.evalBatchSize = 5000)))).toBe("spec.eval_batch_size: must be an integer in [1, 4096], got 5000");
    expect(rejection(changed((s) => (s.quantization!.bits = 4)))).toBe("spec.quantization.bits: only 8 is supported, got 4");
    expect(rejection(changed((s) => (s.trainData!.subsetSize = 20_000_000)))).toMatch(/^spec\.train_data\.subset_size: must be an integer in \[0, 10000000\]/);
    expect(rejection(changed((s) => (s.seed = 2n ** 32n)))).toMatch(/^spec\.seed: must fit in 32 bits/);
    expect(rejection(changed((s) => (s.compressionRatios = [2, 1])))).toBe("spec.compression_ratios[1]: must be in (1, 1000000], got 1");
    expect(rejection(changed((s) => (s.strategies[0]!.scope = 2)))).toBe("spec.strategies[0].scope: random pruning has no layer scope (only global)");
  });
});

describe("one rule for values not set: an optional field takes its default, exactly as if it had been sent", () => {
  it("attack.batch_size and eval_batch_size both default (128 and 256): same spec, same experiment", () => {
    const unset = validateSpec(changed((s) => Object.assign(s, { evalBatchSize: 0, attack: { ...s.attack!, batchSize: 0 } })));
    const sent = validateSpec(changed((s) => Object.assign(s, { evalBatchSize: 256, attack: { ...s.attack!, batchSize: 128 } })));
    expect(unset.attack!.batchSize).toBe(128);
    expect(unset.evalBatchSize).toBe(256);
    expect(experimentId(unset)).toBe(experimentId(sent));
  });

  it("quantization.bits defaults to 8", () => {
    expect(validateSpec(changed((s) => (s.quantization!.bits = 0))).quantization!.bits).toBe(8);
  });

  it("fields whose default is zero stay zero and mean what their comments say", () => {
    const s = validateSpec(changed((s) => Object.assign(s, { attackLimit: 0, heldOutLimit: 0, fineTuningSubsetSize: 0, seed: 0n })));
    expect([s.attackLimit, s.heldOutLimit, s.fineTuningSubsetSize, s.seed]).toEqual([0, 0, 0, 0n]);
  });

  it("validation does not change the spec it is given, and the presets are unchanged by it", () => {
    const given = changed((s) => (s.evalBatchSize = 0));
    validateSpec(given);
    expect(given.evalBatchSize).toBe(0);
    for (const name of Object.keys(PRESETS)) {
      const preset = create(ExperimentSpecSchema, PRESETS[name]!);
      expect(experimentId(validateSpec(preset)), name).toBe(experimentId(preset));
    }
  });
});
