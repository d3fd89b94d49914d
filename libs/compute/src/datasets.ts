import { join } from "node:path";
import { DatasetName, Split, type DatasetRef } from "@gap/proto";
import { enumValue, failedPrecondition, integerInRange, invalidArgument, required } from "@gap/service-kit";
import {
  deriveSeed,
  findRepoRoot,
  loadCifar10,
  loadFashionMnist,
  makeSyntheticDataset,
  readCifar10Dir,
  stratifiedSubset,
  FASHION_MNIST_DIR,
  type Dataset,
  type InputShape,
} from "@gap/ml-core";
import { seedOf } from "./convert.js";

/** Where datasets come from on this machine. */
export interface DataSources {
  /** Official CIFAR-10 batches; undefined: the default search (GAP_CIFAR10_DIR, ../shared/data, cache, download). */
  cifar10Dir?: string;
  cifar10SampleDir: string;
  fashionMnistDir: string;
}

export function dataSourcesFromEnv(env: NodeJS.ProcessEnv = process.env): DataSources {
  const root = findRepoRoot() ?? process.cwd();
  return {
    cifar10Dir: env.GAP_CIFAR10_DIR || undefined,
    cifar10SampleDir: env.GAP_CIFAR10_SAMPLE_DIR || join(root, "libs/ml-core/data/cifar10-sample"),
    fashionMnistDir: env.GAP_FASHION_MNIST_DIR || FASHION_MNIST_DIR,
  };
}

/** Full splits stay in memory: every job of an experiment reads the same few. */
const fullSplits = new Map<string, Promise<Dataset>>();

function fullSplit(name: DatasetName, split: "train" | "test", sources: DataSources, shape: InputShape): Promise<Dataset> {
  const key = `${name}/${split}/${shape.height}x${shape.width}x${shape.channels}`;
  let loaded = fullSplits.get(key);
  if (!loaded) {
    loaded = (async () => {
      switch (name) {
        case DatasetName.CIFAR10:
          return loadCifar10(sources.cifar10Dir, split);
        case DatasetName.CIFAR10_SAMPLE:
          return readCifar10Dir(sources.cifar10SampleDir, split);
        case DatasetName.FASHION_MNIST:
          return loadFashionMnist(sources.fashionMnistDir, split);
        default:
          // Train and test draw different noise around the same class patterns.
          return makeSyntheticDataset({ count: 2000, ...shape, numClasses: 10, seed: split === "train" ? 1 : 2 });
      }
    })();
    fullSplits.set(key, loaded);
    loaded.catch(() => fullSplits.delete(key));
  }
  return loaded;
}

/** Largest DatasetRef.subset_size (and the limits in ExperimentSpec that draw subsets). */
export const MAX_SUBSET_SIZE = 10_000_000;

/** A DatasetRef's fields checked, without loading anything. */
export function datasetRefOf(ref: DatasetRef | undefined, field: string): { name: DatasetName; split: "train" | "test"; subsetSize: number; seed: number } {
  const r = required(ref, field);
  return {
    name: enumValue(r.name, `${field}.name`, DatasetName),
    split: enumValue(r.split, `${field}.split`, Split) === Split.TRAIN ? "train" : "test",
    subsetSize: integerInRange(r.subsetSize, `${field}.subset_size`, 0, MAX_SUBSET_SIZE),
    seed: seedOf(r.seed, `${field}.seed`),
  };
}

/**
 * The examples a DatasetRef names: a split, then a stratified subset of
 * subset_size examples drawn with the seed (0 keeps the whole split).
 * The data must fit the model's input shape.
 */
export async function loadDataset(ref: DatasetRef | undefined, field: string, sources: DataSources, shape: InputShape): Promise<Dataset> {
  const { name, split, subsetSize, seed } = datasetRefOf(ref, field);
  let data: Dataset;
  try {
    data = await fullSplit(name, split, sources, shape);
  } catch (error) {
    throw failedPrecondition(`${field}: ${(error as Error).message}`);
  }
  if (data.height !== shape.height || data.width !== shape.width || data.channels !== shape.channels) {
    throw failedPrecondition(
      `${field}: images are ${data.height}x${data.width}x${data.channels}, the model takes ${shape.height}x${shape.width}x${shape.channels}`,
    );
  }
  if (subsetSize === 0 || subsetSize === data.count) return data;
  if (subsetSize > data.count) throw invalidArgument(`${field}.subset_size`, `${subsetSize} exceeds the ${data.count} examples of the split`);
  return stratifiedSubset(data, subsetSize, deriveSeed(seed, split === "train" ? 0 : 1));
}
