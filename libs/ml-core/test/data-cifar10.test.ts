import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CIFAR10_CLASS_NAMES,
  classCounts,
  decodeCifar10Batch,
  downloadCifar10,
  extractTarGz,
  findRepoRoot,
  installCifar10Archive,
  loadCifar10,
  md5File,
  readCifar10Batch,
  readCifar10Dir,
  resolveCifar10Dir,
  writeCifar10Batch,
} from "../src/data/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(here, "../../..");
const REAL_DIR = resolve(REPO_ROOT, "../shared/data/cifar-10-batches-bin");
const hasReal = existsSync(join(REAL_DIR, "data_batch_1.bin")) && existsSync(join(REAL_DIR, "test_batch.bin"));

const RECORD = 3073;
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "gap-cifar-test-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A record whose pixel bytes are f(channel, y, x), in the official planar layout. */
function makeRecord(label: number, f: (c: number, y: number, x: number) => number): Uint8Array {
  const rec = new Uint8Array(RECORD);
  rec[0] = label;
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) rec[1 + c * 1024 + y * 32 + x] = f(c, y, x);
  return rec;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A fake data directory in the official layout: batch i holds `perBatch` records with labels (i + r) % 10. */
function makeFakeDir(dir: string, batches: number[], perBatch: number): void {
  mkdirSync(dir, { recursive: true });
  for (const i of [...batches, 0]) {
    const recs = Array.from({ length: perBatch }, (_, r) => makeRecord((i + r) % 10, (c, y, x) => (i * 50 + r * 7 + c * 3 + y + x) % 256));
    writeFileSync(join(dir, i === 0 ? "test_batch.bin" : `data_batch_${i}.bin`), concat(recs));
  }
  writeFileSync(join(dir, "batches.meta.txt"), CIFAR10_CLASS_NAMES.join("\n") + "\n\n");
}

describe("CIFAR-10 binary decoding", () => {
  it("converts planar RGB records to NHWC floats in [0,1]", () => {
    // Red encodes x, green y, blue a constant, different in each record.
    const r0 = makeRecord(3, (c, y, x) => [x, y, 200][c]!);
    const r1 = makeRecord(9, (c, y, x) => [255 - x, 2 * y, 17][c]!);
    const { images, labels, count } = decodeCifar10Batch(concat([r0, r1]), "mem");
    expect(count).toBe(2);
    expect(Array.from(labels)).toEqual([3, 9]);
    expect(images.length).toBe(2 * 32 * 32 * 3);
    // Record 0, pixel (y=5, x=7): index ((0*32+5)*32+7)*3.
    const p = (5 * 32 + 7) * 3;
    expect(images[p]).toBeCloseTo(7 / 255, 7);
    expect(images[p + 1]).toBeCloseTo(5 / 255, 7);
    expect(images[p + 2]).toBeCloseTo(200 / 255, 7);
    // Record 1, pixel (y=31, x=0).
    const q = 3072 + (31 * 32 + 0) * 3;
    expect(images[q]).toBeCloseTo(1, 7);
    expect(images[q + 1]).toBeCloseTo(62 / 255, 7);
    expect(images[q + 2]).toBeCloseTo(17 / 255, 7);
  });

  it("reports truncated files and bad labels with the file name and record", () => {
    const good = concat([makeRecord(1, () => 0), makeRecord(2, () => 0)]);
    const truncated = join(tmp, "trunc.bin");
    writeFileSync(truncated, good.subarray(0, RECORD + 100));
    expect(() => readCifar10Batch(truncated)).toThrow(/trunc\.bin.*3073/);
    const empty = join(tmp, "empty.bin");
    writeFileSync(empty, new Uint8Array(0));
    expect(() => readCifar10Batch(empty)).toThrow(/empty\.bin/);
    const corrupt = join(tmp, "corrupt.bin");
    const bad = good.slice();
    bad[RECORD] = 10;
    writeFileSync(corrupt, bad);
    expect(() => readCifar10Batch(corrupt)).toThrow(/corrupt\.bin: record 1 has label byte 10/);
    expect(() => readCifar10Batch(join(tmp, "nope.bin"))).toThrow(/nope\.bin.*not found/);
  });
});

describe("CIFAR-10 directories", () => {
  it("reads the existing training batches in order and the test batch", () => {
    const dir = join(tmp, "fake-a");
    makeFakeDir(dir, [1, 3, 2], 4); // batches 1..3 exist, 4 and 5 do not
    const train = readCifar10Dir(dir, "train");
    expect(train.count).toBe(12);
    expect([train.height, train.width, train.channels, train.numClasses]).toEqual([32, 32, 3, 10]);
    // Order data_batch_1, _2, _3: labels (i + r) % 10.
    expect(Array.from(train.labels)).toEqual([1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6]);
    // First pixel, red channel of batch 2 record 0: (2*50 + 0) / 255.
    expect(train.images[4 * 3072]).toBeCloseTo(100 / 255, 7);
    expect(train.classNames).toEqual(CIFAR10_CLASS_NAMES);
    const test = readCifar10Dir(dir, "test");
    expect(Array.from(test.labels)).toEqual([0, 1, 2, 3]);
  });

  it("names the missing directory or files", () => {
    expect(() => readCifar10Dir(join(tmp, "missing"), "train")).toThrow(/missing: CIFAR-10 directory not found/);
    const dir = join(tmp, "only-test");
    mkdirSync(dir);
    writeFileSync(join(dir, "test_batch.bin"), makeRecord(0, () => 0));
    expect(() => readCifar10Dir(dir, "train")).toThrow(/only-test.*data_batch_1\.bin/);
    const dir2 = join(tmp, "only-train");
    mkdirSync(dir2);
    writeFileSync(join(dir2, "data_batch_1.bin"), makeRecord(0, () => 0));
    expect(() => readCifar10Dir(dir2, "test")).toThrow(/only-train[/\\]test_batch\.bin/);
  });

  it("writeCifar10Batch is the inverse of the reader", () => {
    const images = new Float32Array(3 * 3072);
    const labels = [7, 0, 9];
    for (let i = 0; i < images.length; i++) images[i] = ((i * 31) % 256) / 255;
    const file = join(tmp, "sub", "roundtrip.bin");
    writeCifar10Batch(file, images, labels);
    expect(readFileSync(file).length).toBe(3 * RECORD);
    const back = readCifar10Batch(file);
    expect(Array.from(back.labels)).toEqual(labels);
    expect(back.images).toEqual(images);
    // Raw bytes give the same file.
    const file2 = join(tmp, "roundtrip-bytes.bin");
    writeCifar10Batch(file2, Uint8Array.from(images, (v) => Math.round(v * 255)), labels);
    expect(readFileSync(file2).equals(readFileSync(file))).toBe(true);
    expect(() => writeCifar10Batch(file, images, [1, 2])).toThrow(/images\.length/);
    expect(() => writeCifar10Batch(file, images, [1, 2, 10])).toThrow(/label 10/);
  });

  it("resolves the default directory from GAP_CIFAR10_DIR, then the search paths", () => {
    expect(findRepoRoot()).toBe(REPO_ROOT);
    expect(resolveCifar10Dir({ GAP_CIFAR10_DIR: "/some/where" })).toBe("/some/where");
    const fake = join(tmp, "fake-search");
    makeFakeDir(fake, [1], 1);
    expect(resolveCifar10Dir({}, [join(tmp, "absent"), fake])).toBe(fake);
    expect(resolveCifar10Dir({}, [join(tmp, "absent")])).toBeUndefined();
    if (hasReal) expect(resolveCifar10Dir({ GAP_CACHE_DIR: join(tmp, "cache-x") })).toBe(REAL_DIR);
  });

  it("without data and without a reachable server, says where to put the files", async () => {
    // Port of a server that was closed again: connection refused at once.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const cacheDir = join(tmp, "cache-offline");
    const attempt = loadCifar10(undefined, "test", {
      env: {},
      searchPaths: [join(tmp, "absent")],
      downloadOptions: { url: `http://127.0.0.1:${port}/cifar.tar.gz`, cacheDir },
    });
    await expect(attempt).rejects.toThrow(/download from http:\/\/127\.0\.0\.1.*failed.*GAP_CIFAR10_DIR/);
    await expect(loadCifar10(undefined, "test", { env: {}, searchPaths: [join(tmp, "absent")], download: false })).rejects.toThrow(
      /download disabled.*GAP_CIFAR10_DIR/,
    );
  });
});

describe("CIFAR-10 archive: md5, extraction, download", () => {
  let archive: string;
  let md5: string;
  let server: Server;
  let baseUrl: string;
  let requests = 0;

  beforeAll(async () => {
    // Build a small archive with the official internal layout, using the system tar.
    const src = join(tmp, "archive-src");
    makeFakeDir(join(src, "cifar-10-batches-bin"), [1, 2], 3);
    archive = join(tmp, "small.tar.gz");
    execFileSync("tar", ["czf", archive, "-C", src, "cifar-10-batches-bin"]);
    md5 = createHash("md5").update(readFileSync(archive)).digest("hex");
    server = createServer((req, res) => {
      requests++;
      if (req.url === "/cifar-10-binary.tar.gz") {
        res.writeHead(200, { "content-type": "application/gzip" });
        res.end(readFileSync(archive));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("md5File matches node:crypto", async () => {
    expect(await md5File(archive)).toBe(md5);
  });

  it("installs a verified archive and rejects a wrong md5", async () => {
    const cache = join(tmp, "cache-install");
    const dir = await installCifar10Archive(archive, cache, md5);
    expect(dir).toBe(join(cache, "cifar-10-batches-bin"));
    const train = readCifar10Dir(dir, "train");
    expect(train.count).toBe(6);
    expect(Array.from(train.labels)).toEqual([1, 2, 3, 2, 3, 4]);
    const cache2 = join(tmp, "cache-badmd5");
    await expect(installCifar10Archive(archive, cache2, "0".repeat(32))).rejects.toThrow(/small\.tar\.gz: md5 .* does not match/);
    expect(existsSync(join(cache2, "cifar-10-batches-bin"))).toBe(false);
  });

  it("downloads over HTTP, caches, and loads through loadCifar10", async () => {
    const cacheDir = join(tmp, "cache-dl");
    const url = `${baseUrl}/cifar-10-binary.tar.gz`;
    const opts = { env: {}, searchPaths: [join(cacheDir, "cifar-10-batches-bin")], downloadOptions: { url, md5, cacheDir } };
    const before = requests;
    const test = await loadCifar10(undefined, "test", opts);
    expect(requests - before).toBe(1);
    expect(Array.from(test.labels)).toEqual([0, 1, 2]);
    // Second call finds the extracted directory and does not download again.
    const train = await loadCifar10(undefined, "train", opts);
    expect(requests - before).toBe(1);
    expect(train.count).toBe(6);
  });

  it("deletes a downloaded archive whose md5 is wrong, and reports HTTP errors", async () => {
    const cacheDir = join(tmp, "cache-dl-bad");
    await expect(downloadCifar10({ url: `${baseUrl}/cifar-10-binary.tar.gz`, md5: "f".repeat(32), cacheDir })).rejects.toThrow(/does not match/);
    expect(existsSync(join(cacheDir, "cifar-10-binary.tar.gz"))).toBe(false);
    await expect(downloadCifar10({ url: `${baseUrl}/missing.tar.gz`, cacheDir })).rejects.toThrow(/HTTP 404/);
  });

  it("extracts GNU and pax archives with long names, and refuses paths outside the target", () => {
    const src = join(tmp, "tar-src");
    const long = `${"d".repeat(60)}/${"f".repeat(120)}.bin`;
    mkdirSync(join(src, dirname(long)), { recursive: true });
    writeFileSync(join(src, long), "long name content");
    writeFileSync(join(src, "short.txt"), "x".repeat(1000)); // spans two 512-byte blocks
    // GNU tar stores the long name in an 'L' entry, pax in an 'x' extended header.
    for (const format of ["gnu", "pax"]) {
      const arc = join(tmp, `long-${format}.tar`);
      execFileSync("tar", [`--format=${format}`, "-cf", arc, "-C", src, long, "short.txt"]);
      const out = join(tmp, `out-${format}`);
      const written = extractTarGz(arc, out);
      expect(written.sort()).toEqual([join(out, long), join(out, "short.txt")].sort());
      expect(readFileSync(join(out, long), "utf8")).toBe("long name content");
      expect(readFileSync(join(out, "short.txt"), "utf8")).toBe("x".repeat(1000));
    }
    // An archive member named ../escape.txt must not be written.
    const inner = join(tmp, "esc", "inner");
    mkdirSync(inner, { recursive: true });
    writeFileSync(join(tmp, "esc", "escape.txt"), "bad");
    const evil = join(tmp, "evil.tar");
    execFileSync("tar", ["-P", "-cf", evil, "../escape.txt"], { cwd: inner });
    expect(() => extractTarGz(evil, join(tmp, "evil-out", "a"))).toThrow(/unsafe path/);
    // A corrupted header is detected.
    const broken = join(tmp, "broken.tar");
    const bytes = readFileSync(join(tmp, "long-gnu.tar"));
    bytes[20] ^= 0xff;
    writeFileSync(broken, bytes);
    expect(() => extractTarGz(broken, join(tmp, "broken-out"))).toThrow(/broken\.tar.*checksum/);
  });
});

describe.skipIf(!hasReal)("the shared CIFAR-10 files", () => {
  it("train: 10,000 records of official batch 1", async () => {
    expect(await md5File(join(REAL_DIR, "data_batch_1.bin"))).toBe("04a2e46fcef9b1c9eda2f039c0a13b41");
    const ds = await loadCifar10(REAL_DIR, "train");
    expect(ds.count).toBe(10000);
    expect(ds.images.length).toBe(10000 * 3072);
    // Class counts of the official data_batch_1 (not balanced, unlike the test batch).
    expect(classCounts(ds)).toEqual([1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]);
    // The first images of batch 1 are a frog, two trucks, a deer, an automobile.
    expect(Array.from(ds.labels.subarray(0, 5))).toEqual([6, 9, 9, 4, 1]);
    expect(ds.classNames).toEqual(CIFAR10_CLASS_NAMES);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // Decoding agrees with the raw bytes of the first record: pixel (y=10, x=20).
    const raw = readFileSync(join(REAL_DIR, "data_batch_1.bin"));
    const p = 10 * 32 + 20;
    for (let c = 0; c < 3; c++) expect(ds.images[p * 3 + c]).toBeCloseTo(raw[1 + c * 1024 + p]! / 255, 7);
  });

  it("test: 10,000 records, 1,000 per class", async () => {
    expect(await md5File(join(REAL_DIR, "test_batch.bin"))).toBe("5d844fac390545225901b7a74315a12c");
    const ds = await loadCifar10(REAL_DIR, "test");
    expect(ds.count).toBe(10000);
    expect(classCounts(ds)).toEqual(new Array(10).fill(1000));
    // Official test batch starts cat, ship, ship, airplane.
    expect(Array.from(ds.labels.subarray(0, 4))).toEqual([3, 8, 8, 0]);
  });

  it("a batch copied through writeCifar10Batch is byte-identical", () => {
    const ds = readCifar10Batch(join(REAL_DIR, "test_batch.bin"));
    const n = 50;
    const out = join(tmp, "real-sample", "test_batch.bin");
    writeCifar10Batch(out, ds.images.subarray(0, n * 3072), ds.labels.subarray(0, n));
    const original = readFileSync(join(REAL_DIR, "test_batch.bin")).subarray(0, n * RECORD);
    expect(readFileSync(out).equals(original)).toBe(true);
    copyFileSync(join(REAL_DIR, "batches.meta.txt"), join(tmp, "real-sample", "batches.meta.txt"));
    expect(readCifar10Dir(join(tmp, "real-sample"), "test").count).toBe(n);
  });
});
