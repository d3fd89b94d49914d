import { join } from "node:path";
import { ArtifactKind, DatasetName, type DatasetRef } from "@gap/proto";
import type { ArtifactStore } from "@gap/artifacts";
import { failedPrecondition, invalidArgument, ServiceError } from "@gap/service-kit";
import {
  deriveSeed,
  findRepoRoot,
  loadCifar10,
  decodeStoredDataset,
  loadFashionMnist,
  makeSyntheticDataset,
  readCifar100Dir,
  readCifar10Dir,
  stratifiedSubset,
  FASHION_MNIST_DIR,
  type Dataset,
  type ModelConfig,
} from "@gap/ml-core";
import { datasetRefOf } from "./convert.js";
import { readArtifact } from "./artifacts.js";
import { RecentByBytes } from "./recent.js";

/** Where datasets come from on this machine. */
export interface DataSources {
  /** Official CIFAR-10 batches; undefined: the default search (GAP_CIFAR10_DIR, ../shared/data, cache, download). */
  cifar10Dir?: string;
  cifar10SampleDir: string;
  fashionMnistDir: string;
  /** CIFAR-100's official binary files (GAP_CIFAR100_DIR). */
  cifar100Dir?: string;
  /** Where DATASET_NAME_STORED objects are read from. */
  store?: ArtifactStore;
}

export function dataSourcesFromEnv(env: NodeJS.ProcessEnv = process.env): DataSources {
  const root = findRepoRoot() ?? process.cwd();
  return {
    cifar10Dir: env.GAP_CIFAR10_DIR || undefined,
    cifar10SampleDir: env.GAP_CIFAR10_SAMPLE_DIR || join(root, "libs/ml-core/data/cifar10-sample"),
    fashionMnistDir: env.GAP_FASHION_MNIST_DIR || FASHION_MNIST_DIR,
    cifar100Dir: env.GAP_CIFAR100_DIR || undefined,
  };
}

/** Full splits stay in memory: every job of an experiment reads the same few. */
const fullSplits = new Map<string, Promise<Dataset>>();

function splitKey(ref: DatasetRef, split: "train" | "test", shape: ModelConfig["inputShape"]): string {
  const name = ref.name;
  return `${name}/${name === DatasetName.STORED ? `${ref.artifact?.key}@${ref.artifact?.sha256}/` : ""}${split}/${shape.height}x${shape.width}x${shape.channels}`;
}

function fullSplit(ref: DatasetRef, field: string, split: "train" | "test", sources: DataSources, shape: ModelConfig["inputShape"]): Promise<Dataset> {
  const name = ref.name;
  const key = splitKey(ref, split, shape);
  let loaded = fullSplits.get(key);
  if (!loaded) {
    loaded = (async () => {
      switch (name) {
        case DatasetName.STORED: {
          if (!sources.store) throw new Error("this service has no store to read data sets from");
          return decodeStoredDataset(await readArtifact(sources.store, ref.artifact, `${field}.artifact`, ArtifactKind.DATASET), split);
        }
        case DatasetName.CIFAR100:
          if (!sources.cifar100Dir) throw new Error("CIFAR-100 needs GAP_CIFAR100_DIR: the directory of the official binary files (train.bin, test.bin)");
          return readCifar100Dir(sources.cifar100Dir, split);
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

/**
 * The examples a DatasetRef names: a split, then a stratified subset of
 * subset_size examples drawn with the seed (0 keeps the whole split).
 * The data must fit the model's input shape and classes.
 */
export async function loadDataset(ref: DatasetRef | undefined, field: string, sources: DataSources, model: Pick<ModelConfig, "inputShape" | "numClasses">): Promise<Dataset> {
  const shape = model.inputShape;
  const { ref: r, split, subsetSize, seed } = datasetRefOf(ref, field);
  let data: Dataset;
  try {
    data = await fullSplit(r, field, split, sources, shape);
  } catch (error) {
    // A bad reference, or the store's own errors, keep their statuses; anything else about the data is a precondition.
    if (error instanceof ServiceError || (error as Error).name.startsWith("Artifact")) throw error;
    throw failedPrecondition(`${field}: ${(error as Error).message}`);
  }
  if (data.numClasses > model.numClasses) {
    throw failedPrecondition(`${field}: the data has ${data.numClasses} classes, the model ${model.numClasses}`);
  }
  if (data.height !== shape.height || data.width !== shape.width || data.channels !== shape.channels) {
    throw failedPrecondition(
      `${field}: images are ${data.height}x${data.width}x${data.channels}, the model takes ${shape.height}x${shape.width}x${shape.channels}`,
    );
  }
  if (subsetSize === 0 || subsetSize === data.count) return data;
  if (subsetSize > data.count) throw invalidArgument(`${field}.subset_size`, `${subsetSize} exceeds the ${data.count} examples of the split`);
  const key = `${splitKey(r, split, shape)}/${subsetSize}/${seed}`;
  let subset = subsets.get(key);
  if (!subset) {
    subset = stratifiedSubset(data, subsetSize, deriveSeed(seed, split === "train" ? 0 : 1));
    subsets.keep(key, subset);
  }
  return subset;
}

/**
 * Recent subsets stay in memory too, up to 256 MB of pixels: an experiment's
 * evaluations all draw the same test subset, and copying it per job (12 MB for
 * 1,000 CIFAR images) allocated more than the job's weights and masks.
 */
const subsets = new RecentByBytes<Dataset>(256 * 2 ** 20, (subset) => subset.images.byteLength);
