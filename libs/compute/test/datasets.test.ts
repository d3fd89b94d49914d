// loadDataset's subsets: drawn once per (split, size, seed) and shared by later jobs.
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { DatasetName, DatasetRefSchema, Split } from "@gap/proto";
import { dataSourcesFromEnv, loadDataset } from "../src/index.js";

const sources = dataSourcesFromEnv({});
const model = { inputShape: { height: 8, width: 8, channels: 3 }, numClasses: 10 };
const ref = (subsetSize: number, seed: number) => create(DatasetRefSchema, { name: DatasetName.SYNTHETIC, split: Split.TEST, subsetSize, seed: BigInt(seed) });

describe("loadDataset", () => {
  it("draws a subset once and hands the same one to every later request for it", async () => {
    const a = await loadDataset(ref(100, 1), "dataset", sources, model);
    const again = await loadDataset(ref(100, 1), "dataset", sources, model);
    expect(again).toBe(a);
    expect(a.count).toBe(100);
    const otherSeed = await loadDataset(ref(100, 2), "dataset", sources, model);
    const otherSize = await loadDataset(ref(50, 1), "dataset", sources, model);
    expect(otherSeed).not.toBe(a);
    expect(Array.from(otherSeed.labels)).not.toEqual(Array.from(a.labels));
    expect(otherSize.count).toBe(50);
  });
});
