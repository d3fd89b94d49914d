import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { countParameters, createModel, type Model } from "@gap/ml-core";
import { prune, type Scope, type StrategyName } from "../src/index.js";

let model: Model;
beforeAll(async () => {
  await tf.setBackend("cpu");
  model = createModel({ architecture: "resnet20", numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } }, 0);
});

describe("compression on ResNet20", () => {
  const total = 269_722;
  const cases: Array<[StrategyName, Scope]> = [
    ["magnitude", "global"],
    ["magnitude", "layer"],
    ["random", "global"],
  ];
  for (const [strategy, scope] of cases) {
    it(`${strategy} ${scope}: the realized compression is p for p = 2, 4, 8, 16, 32`, async () => {
      expect(countParameters(model)).toBe(total);
      for (const p of [2, 4, 8, 16, 32]) {
        const { masks, report } = await prune(model, { strategy, scope, compression: p, variant: "paper", batchSize: 128, seed: p });
        const kept = [...masks.values()].reduce((sum, m) => sum + m.reduce((a, b) => a + b, 0), 0);
        // Exactly round(total / p) parameters remain, so p is met to the nearest parameter.
        expect(report.nonzeroParameters).toBe(Math.round(total / p));
        expect(report.nonzeroParameters).toBe(total - report.prunableParameters + kept);
        expect(Math.abs(report.realizedCompression - p)).toBeLessThan((p * p) / total);
        // The final classifier and BatchNorm are never pruned.
        expect([...masks.keys()].some((name) => name.startsWith("linear") || name.includes("bn"))).toBe(false);
      }
    });
  }
});
