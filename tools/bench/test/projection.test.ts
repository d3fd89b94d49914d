// The projection's step pricing on the quick preset, against counts worked out by hand
// from the preset (services/coordinator/src/spec.ts) and the graph's shape.
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { loadSpec } from "@gap/coordinator";
import { Architecture, ExperimentSpecSchema } from "@gap/proto";
import { project, stepWork, typicalRatesOf, type MlResult, type Rates } from "../src/projection.js";

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("projected experiment wall time", () => {
  const work = stepWork(loadSpec("quick"));
  const images = (kind: string) => sum(work.filter((w) => w.kind === kind).map((w) => w.images));

  it("prices every step of the quick preset by its images", () => {
    expect(work.length).toBe(259);
    // No base training (the committed ResNet20); 21 fine-tunings (7 pairs x 3 ratios) of 2 epochs on 2,000 images.
    expect(images("train")).toBe(21 * 2 * 2000);
    // PGD-10 on 256 inputs: the base model's training and held-out test subsets, 21 pruned models.
    expect(images("attack")).toBe(23 * 256);
    // Clean test (1,000) per model, float and int8; base int8: adversarial and held-out sets (256 each);
    // pruned, float and int8: adversarial, transfer and held-out sets.
    expect(images("evaluate")).toBe(1000 + (1000 + 2 * 256) + 21 * 2 * (1000 + 3 * 256));
    // 128 calibration images per int8 model.
    expect(images("quantize")).toBe(22 * 128);
    // Gradient and GAP, each global and layerwise, score 256 inputs at each ratio; random and magnitude are free.
    expect(images("prune")).toBe(4 * 3 * 256);
    expect(work.filter((w) => w.kind === "prune" && w.workload === null)).toHaveLength(3 * 3);
  });

  it("adds up seconds per architecture and step kind at the given rates", () => {
    const rates: Rates = { train: 1e-3, evaluate: 1e-4, pgd10: 1e-2, gapInput: 2e-3 };
    const seconds = project(work, new Map([["resnet20", rates]]))!.get("resnet20")!;
    expect(seconds.train).toBeCloseTo(84_000 * 1e-3, 9);
    expect(seconds.attack).toBeCloseTo(5_888 * 1e-2, 9);
    expect(seconds.evaluate).toBeCloseTo(76_768 * 1e-4, 9);
    expect(seconds.quantize).toBeCloseTo(2_816 * 1e-4, 9);
    expect(seconds.prune).toBeCloseTo(3_072 * 2e-3, 9);
    // An architecture without measured rates cannot be projected.
    expect(project(work, new Map())).toBeNull();
  });

  it("prices at the median repeat as well as the best", () => {
    // Training: 128 images a repeat (best 0.128 s at 1000 img/s), median 0.2 s; evaluation: an even count.
    const result: MlResult = {
      architecture: "resnet20",
      trainStep: { imagesPerSecond: 1000, seconds: [0.256, 0.128, 0.2] },
      evaluation: { imagesPerSecond: 5120, seconds: [0.1, 0.2, 0.3, 0.4] },
      pgd10: { imagesPerSecond: 100, seconds: [1.28] },
      gapScoring: { inputs: 1000, seconds: 2, secondsPerAttempt: [4, 2, 3] },
    };
    const typical = typicalRatesOf(result)!;
    expect(typical.train).toBeCloseTo(0.2 / 128, 12);
    expect(typical.evaluate).toBeCloseTo(0.25 / 512, 12);
    expect(typical.pgd10).toBeCloseTo(1 / 100, 12);
    expect(typical.gapInput).toBeCloseTo(3 / 1000, 12);
    // Without the repeats' timings there is no median to price at.
    expect(typicalRatesOf({ ...result, evaluation: { imagesPerSecond: 5120 } })).toBeNull();
  });

  it("takes the full CIFAR-10 splits when a spec names no subset", () => {
    const spec = create(ExperimentSpecSchema, { ...loadSpec("paper"), architectures: [Architecture.RESNET20], trials: 1, compressionRatios: [2] });
    const train = stepWork(spec).filter((w) => w.kind === "train");
    // 300 epochs on 50,000 images, then 7 fine-tunings of 40 epochs on 50,000.
    expect(sum(train.map((w) => w.images))).toBe(300 * 50_000 + 7 * 40 * 50_000);
  });
});
