/**
 * CIFAR-10 in the official binary format ("CIFAR-10 binary version").
 * Each record is 3073 bytes: 1 label byte, then 1024 red, 1024 green, 1024 blue bytes,
 * each plane row-major 32x32. We convert to NHWC float32 in [0, 1].
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { extractTarGz } from "./tar.js";
import type { Dataset, Split } from "./types.js";

export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
export const CIFAR10_CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
/** Directory name inside the official archive. */
export const CIFAR10_DIRNAME = "cifar-10-batches-bin";

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** byte -> byte/255, so conversion is a table lookup. */
const BYTE_TO_UNIT = new Float32Array(256).map((_, i) => i / 255);

export interface Cifar10Batch {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

/** Decode the bytes of one batch file; `file` only names the source in errors. */
export function decodeCifar10Batch(bytes: Uint8Array, file: string): Cifar10Batch {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new Error(`${file}: size ${bytes.length} bytes is not a positive multiple of ${RECORD} (truncated or not a CIFAR-10 batch)`);
  }
  const count = bytes.length / RECORD;
  const images = new Float32Array(count * PLANE * 3);
  const labels = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const off = r * RECORD;
    const label = bytes[off]!;
    if (label > 9) throw new Error(`${file}: record ${r} has label byte ${label} > 9 (corrupt file)`);
    labels[r] = label;
    const out = r * PLANE * 3;
    for (let p = 0; p < PLANE; p++) {
      const o = out + p * 3;
      images[o] = BYTE_TO_UNIT[bytes[off + 1 + p]!]!;
      images[o + 1] = BYTE_TO_UNIT[bytes[off + 1 + PLANE + p]!]!;
      images[o + 2] = BYTE_TO_UNIT[bytes[off + 1 + 2 * PLANE + p]!]!;
    }
  }
  return { images, labels, count };
}

export function readCifar10Batch(file: string): Cifar10Batch {
  if (!existsSync(file)) throw new Error(`${file}: CIFAR-10 batch file not found`);
  return decodeCifar10Batch(readFileSync(file), file);
}

/**
 * Write a batch file in the official format (inverse of readCifar10Batch).
 * images: NHWC 32x32x3, either float in [0,1] (rounded to bytes) or raw bytes.
 */
export function writeCifar10Batch(path: string, images: Float32Array | Uint8Array, labels: ArrayLike<number>): void {
  const count = labels.length;
  if (images.length !== count * PLANE * 3) {
    throw new Error(`writeCifar10Batch: images.length ${images.length} != labels.length*3072 = ${count * PLANE * 3}`);
  }
  const isFloat = images instanceof Float32Array;
  const toByte = (v: number) => (isFloat ? Math.min(255, Math.max(0, Math.round(v * 255))) : v);
  const bytes = new Uint8Array(count * RECORD);
  for (let r = 0; r < count; r++) {
    const label = labels[r]!;
    if (!Number.isInteger(label) || label < 0 || label > 9) throw new Error(`writeCifar10Batch: label ${label} of record ${r} not in 0..9`);
    const off = r * RECORD;
    bytes[off] = label;
    const src = r * PLANE * 3;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) bytes[off + 1 + c * PLANE + p] = toByte(images[src + p * 3 + c]!);
    }
  }
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, bytes);
}

/** The batch files a split consists of, in order (train: whichever of data_batch_1..5 exist). */
export function cifar10SplitFiles(dir: string, split: Split): string[] {
  if (split === "test") return [join(dir, "test_batch.bin")];
  const files: string[] = [];
  for (let i = 1; i <= 5; i++) {
    const f = join(dir, `data_batch_${i}.bin`);
    if (existsSync(f)) files.push(f);
  }
  if (files.length === 0) throw new Error(`${dir}: no CIFAR-10 training batch found (expected data_batch_1.bin … data_batch_5.bin)`);
  return files;
}

function readClassNames(dir: string): string[] {
  const meta = join(dir, "batches.meta.txt");
  // The meta file only carries names; the built-in list is the same, so it is optional.
  if (!existsSync(meta)) return [...CIFAR10_CLASS_NAMES];
  const names = readFileSync(meta, "utf8").split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "");
  if (names.length !== 10) throw new Error(`${meta}: expected 10 class names, found ${names.length}`);
  return names;
}

/** Read one split from a directory in the official layout (synchronous, no download). */
export function readCifar10Dir(dir: string, split: Split): Dataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: CIFAR-10 directory not found`);
  const batches = cifar10SplitFiles(dir, split).map(readCifar10Batch);
  const count = batches.reduce((n, b) => n + b.count, 0);
  const images = new Float32Array(count * PLANE * 3);
  const labels = new Int32Array(count);
  let n = 0;
  for (const b of batches) {
    images.set(b.images, n * PLANE * 3);
    labels.set(b.labels, n);
    n += b.count;
  }
  return { images, labels, count, height: SIDE, width: SIDE, channels: 3, numClasses: 10, classNames: readClassNames(dir) };
}

/** The repository root: the nearest ancestor of this file whose package.json has "workspaces". */
export function findRepoRoot(start = dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, "utf8")).workspaces) return dir;
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Where downloads go: GAP_CACHE_DIR, else $XDG_CACHE_HOME/gap-lab, else ~/.cache/gap-lab. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GAP_CACHE_DIR) return env.GAP_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "gap-lab");
}

/** The places searched for CIFAR-10 when no directory is given, in order. */
export function cifar10SearchPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const paths: string[] = [];
  const root = findRepoRoot();
  if (root) paths.push(resolve(root, "..", "shared", "data", CIFAR10_DIRNAME));
  paths.push(join(defaultCacheDir(env), CIFAR10_DIRNAME));
  return paths;
}

/**
 * Default directory: GAP_CIFAR10_DIR if set (used even if it is wrong, so the error names it),
 * else the first existing search path, else undefined (caller may download).
 */
export function resolveCifar10Dir(env: NodeJS.ProcessEnv = process.env, searchPaths = cifar10SearchPaths(env)): string | undefined {
  if (env.GAP_CIFAR10_DIR) return env.GAP_CIFAR10_DIR;
  return searchPaths.find((p) => existsSync(join(p, "test_batch.bin")));
}

export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/**
 * Verify an archive's md5, then extract it into cacheDir. Returns the directory holding
 * the batch files (cacheDir/cifar-10-batches-bin). Separate from the download so it can be tested.
 */
export async function installCifar10Archive(archivePath: string, cacheDir: string, md5 = CIFAR10_MD5): Promise<string> {
  const actual = await md5File(archivePath);
  if (actual !== md5) throw new Error(`${archivePath}: md5 ${actual} does not match the expected ${md5} (corrupt or wrong download)`);
  mkdirSync(cacheDir, { recursive: true });
  extractTarGz(archivePath, cacheDir);
  const dir = join(cacheDir, CIFAR10_DIRNAME);
  if (!existsSync(join(dir, "test_batch.bin"))) throw new Error(`${archivePath}: archive has no ${CIFAR10_DIRNAME}/test_batch.bin`);
  return dir;
}

export interface DownloadOptions {
  url?: string;
  md5?: string;
  cacheDir?: string;
  /** Give up if the server has not answered within this time (the transfer itself is not limited). */
  connectTimeoutMs?: number;
}

/** Download the official archive into the cache, verify it and extract it. Returns the data directory. */
export async function downloadCifar10(options: DownloadOptions = {}): Promise<string> {
  const { url = CIFAR10_URL, md5 = CIFAR10_MD5, cacheDir = defaultCacheDir(), connectTimeoutMs = 30_000 } = options;
  mkdirSync(cacheDir, { recursive: true });
  const archive = join(cacheDir, "cifar-10-binary.tar.gz");
  if (!existsSync(archive)) {
    const part = `${archive}.part`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), connectTimeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || !response.body) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
    await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), createWriteStream(part));
    renameSync(part, archive);
  }
  try {
    return await installCifar10Archive(archive, cacheDir, md5);
  } catch (e) {
    rmSync(archive, { force: true }); // a bad archive must not be reused next time
    throw e;
  }
}

export interface LoadCifar10Options {
  /** Allow downloading when no directory is given or found (default true). */
  download?: boolean;
  downloadOptions?: DownloadOptions;
  env?: NodeJS.ProcessEnv;
  /** Override the directories searched when no directory is given (default cifar10SearchPaths()). */
  searchPaths?: string[];
}

/**
 * Load a CIFAR-10 split. With `dir`, read exactly there. Without, use GAP_CIFAR10_DIR, the
 * shared data directory next to the repository, or a previous download in the cache; only
 * when none exists, download the official archive.
 */
export async function loadCifar10(dir: string | undefined, split: Split = "train", options: LoadCifar10Options = {}): Promise<Dataset> {
  if (dir !== undefined) return readCifar10Dir(dir, split);
  const env = options.env ?? process.env;
  const searchPaths = options.searchPaths ?? cifar10SearchPaths(env);
  const found = resolveCifar10Dir(env, searchPaths);
  if (found) return readCifar10Dir(found, split);
  const cacheDir = options.downloadOptions?.cacheDir ?? defaultCacheDir(env);
  const where =
    `Put the official binary files (data_batch_1.bin … data_batch_5.bin, test_batch.bin, batches.meta.txt) ` +
    `in a directory and set GAP_CIFAR10_DIR to it, or place them in one of: ${searchPaths.join(", ")}.`;
  if (options.download === false) throw new Error(`CIFAR-10 not found and download disabled. ${where}`);
  let downloaded: string;
  try {
    downloaded = await downloadCifar10({ ...options.downloadOptions, cacheDir });
  } catch (e) {
    const url = options.downloadOptions?.url ?? CIFAR10_URL;
    const err = e as Error & { cause?: { message?: string } };
    const reason = err.cause?.message ? `${err.message}: ${err.cause.message}` : err.message;
    throw new Error(`CIFAR-10 not found and download from ${url} failed (${reason}). ${where}`);
  }
  return readCifar10Dir(downloaded, split);
}
