// Writes the CIFAR-10 sample committed for the quick preset: stratified subsets of
// ../shared/data (2,000 train, 1,000 test images), in the official binary format.
// Usage: npx tsx tools/make-cifar10-sample.ts [sourceDir] [outDir]
import { copyFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { readCifar10Dir, stratifiedSubset, writeCifar10Batch } from "@gap/ml-core";

const root = resolve(import.meta.dirname, "..");
const source = process.argv[2] ?? resolve(root, "../shared/data/cifar-10-batches-bin");
const out = process.argv[3] ?? join(root, "libs/ml-core/data/cifar10-sample");
mkdirSync(out, { recursive: true });
for (const [split, file, count] of [["train", "data_batch_1.bin", 2000], ["test", "test_batch.bin", 1000]] as const) {
  const subset = stratifiedSubset(readCifar10Dir(source, split), count, 0);
  writeCifar10Batch(join(out, file), subset.images, subset.labels);
  console.log(`${split}: ${subset.count} images -> ${join(out, file)}`);
}
copyFileSync(join(source, "batches.meta.txt"), join(out, "batches.meta.txt"));
