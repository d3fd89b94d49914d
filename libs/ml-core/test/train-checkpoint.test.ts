import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../src/data/index.js";
import { createModel } from "../src/models/index.js";
import { saveWeights } from "../src/io/index.js";
import { initBackend } from "../src/runtime/index.js";
import { train, type TrainOptions } from "../src/train/index.js";

// The backend the services train on (wasm, with the native kernels where built): the resumed bits must match there.
beforeAll(async () => {
  await initBackend("wasm", { log: () => {} });
});

const config = { architecture: "resnet20" as const, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };
const data = makeSyntheticDataset({ count: 40, height: 32, width: 32, channels: 3, numClasses: 10, seed: 5 });
const options: TrainOptions = {
  epochs: 3,
  batchSize: 16,
  schedule: { kind: "reference_code_step", initialLr: 0.05 },
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  augmentation: { randomCrop: true, padding: 4, horizontalFlip: true },
  seed: 11,
};
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("training checkpoints", () => {
  it("a run cut after epoch 2 resumes from its checkpoint to the bits of an uninterrupted run", async () => {
    const straight = createModel(config, 1);
    const whole = await train(straight, data, options);
    expect(whole.resumedAfterEpoch).toBe(0);

    const saved: Uint8Array[] = [];
    const controller = new AbortController();
    const cut = createModel(config, 1);
    const first = train(cut, data, {
      ...options,
      signal: controller.signal,
      checkpoints: {
        load: async () => undefined,
        save: async (state) => {
          saved.push(state);
          if (saved.length === 2) controller.abort(); // the process "dies" during epoch 3
        },
      },
    });
    await expect(first).rejects.toMatchObject({ name: "AbortError" });
    expect(saved).toHaveLength(2); // after epochs 1 and 2; never after the last

    // Another process: a differently initialised model, everything else from the checkpoint.
    const resumed = createModel(config, 99);
    const summary = await train(resumed, data, { ...options, checkpoints: { load: async () => saved.at(-1), save: async () => {} } });
    expect(summary.resumedAfterEpoch).toBe(2);
    expect(summary.epochsCompleted).toBe(3);
    expect(summary.finalLoss).toBe(whole.finalLoss);
    expect(sha(saveWeights(resumed))).toBe(sha(saveWeights(straight)));
    // From the first checkpoint too (two epochs redone).
    const fromFirst = createModel(config, 98);
    expect((await train(fromFirst, data, { ...options, checkpoints: { load: async () => saved[0], save: async () => {} } })).resumedAfterEpoch).toBe(1);
    expect(sha(saveWeights(fromFirst))).toBe(sha(saveWeights(straight)));
    [straight, cut, resumed, fromFirst].forEach((m) => m.dispose());
  });
});
