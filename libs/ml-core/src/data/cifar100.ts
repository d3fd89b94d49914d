/**
 * CIFAR-100 in the official binary format ("CIFAR-100 binary version"):
 * train.bin and test.bin, each record 3074 bytes: the coarse label, the fine
 * label, then 1024 red, 1024 green and 1024 blue bytes (32x32, row-major).
 * The 100 fine labels are the classes; fine_label_names.txt names them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Dataset, Split } from "./types.js";

const PLANE = 32 * 32;
const RECORD = 2 + 3 * PLANE;

export function decodeCifar100(bytes: Uint8Array, file: string): { images: Float32Array; labels: Int32Array; count: number } {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new Error(`${file}: size ${bytes.length} bytes is not a positive multiple of ${RECORD} (truncated or not a CIFAR-100 batch)`);
  }
  const count = bytes.length / RECORD;
  const images = new Float32Array(count * PLANE * 3);
  const labels = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const at = r * RECORD;
    const coarse = bytes[at]!;
    const fine = bytes[at + 1]!;
    if (coarse > 19 || fine > 99) throw new Error(`${file}: record ${r} has labels ${coarse}/${fine}, beyond 19/99 (corrupt file)`);
    labels[r] = fine;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) images[(r * PLANE + p) * 3 + c] = bytes[at + 2 + c * PLANE + p]! / 255;
    }
  }
  return { images, labels, count };
}

/** One split from a directory holding the official files (train.bin, test.bin, fine_label_names.txt). */
export function readCifar100Dir(dir: string, split: Split): Dataset {
  const file = join(dir, `${split}.bin`);
  if (!existsSync(file)) throw new Error(`${file}: CIFAR-100 file not found (set GAP_CIFAR100_DIR to the directory of the official binary files)`);
  const names = join(dir, "fine_label_names.txt");
  const classNames = existsSync(names) ? readFileSync(names, "utf8").split(/\r?\n/).map((s) => s.trim()).filter(Boolean) : undefined;
  if (classNames && classNames.length !== 100) throw new Error(`${names}: expected 100 class names, found ${classNames.length}`);
  return { ...decodeCifar100(readFileSync(file), file), height: 32, width: 32, channels: 3, numClasses: 100, classNames };
}
