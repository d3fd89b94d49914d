import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  ArtifactIntegrityError,
  ArtifactNotFoundError,
  InvalidArtifactKeyError,
  type ArtifactStore,
} from "../src/index.js";

/** What the contract needs from an implementation besides the store itself. */
export interface StoreHarness {
  /** A store on `bucket`, which does not exist yet. */
  open(bucket: string): ArtifactStore;
  bucketExists(bucket: string): Promise<boolean>;
  /** Changes the stored bytes of `key` without touching the recorded sha256 or size. */
  corrupt(store: ArtifactStore, key: string): Promise<void>;
  /** Every object or file physically stored for the bucket, internal ones included. */
  rawEntries(bucket: string): Promise<string[]>;
  /** Internal objects or files no live artifact needs (temporaries, replaced data). */
  leftovers(bucket: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function deterministicBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** Yields `bytes` in chunks of an odd size so that chunk and part boundaries never line up. */
async function* chunked(bytes: Uint8Array, chunkSize = 65_521): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    yield bytes.subarray(offset, offset + chunkSize);
  }
}

function independentSha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the promise to reject");
}

const REJECTED_KEYS = ["../x", "a//b", "/abs", "a/./b", "a\\b", "a\nb", "", "x".repeat(1025), "a/", "a/../b", "a b", "caf\u00e9", "~uploads/x"];

/**
 * The behaviour every ArtifactStore must have. Call inside a `describe`; `setup`
 * runs once before the cases, each case works in a bucket of its own.
 */
export function artifactStoreContract(setup: () => Promise<StoreHarness>): void {
  let harness: StoreHarness;
  let bucketCount = 0;
  const runId = randomBytes(4).toString("hex");
  const freshBucket = () => `gap-test-${runId}-${++bucketCount}`;
  const freshStore = () => harness.open(freshBucket());

  beforeAll(async () => {
    harness = await setup();
  });
  afterAll(async () => {
    await harness?.cleanup();
  });

  it("creates its bucket on the first put, and reads from a missing bucket find nothing", async () => {
    const store = freshStore();
    expect(await harness.bucketExists(store.bucket)).toBe(false);
    expect(await store.list("")).toEqual([]);
    expect(await store.stat("a.bin")).toBeUndefined();
    await expect(store.get("a.bin")).rejects.toBeInstanceOf(ArtifactNotFoundError);

    await store.put("a.bin", new Uint8Array([1, 2, 3]));
    expect(await harness.bucketExists(store.bucket)).toBe(true);
    expect(await store.list("")).toEqual(["a.bin"]);
  });

  it("round-trips bytes and returns a ref whose sha256 and size match an independent hash", async () => {
    const store = freshStore();
    const bytes = deterministicBytes(100_003, 1);
    const ref = await store.put("models/mlp/weights.bin", bytes, { contentType: "application/x-gap-weights" });

    expect(ref).toEqual({
      bucket: store.bucket,
      key: "models/mlp/weights.bin",
      sha256: independentSha256(bytes),
      sizeBytes: 100_003n,
    });
    expect(Buffer.from(await store.get(ref)).equals(bytes)).toBe(true);
    expect(Buffer.from(await store.get("models/mlp/weights.bin")).equals(bytes)).toBe(true);
    expect(await store.stat("models/mlp/weights.bin")).toEqual({ ...ref, contentType: "application/x-gap-weights" });
    expect(await store.exists("models/mlp/weights.bin")).toBe(true);
  });

  it("returns bytes that own their buffer, so they can be viewed as floats", async () => {
    const store = freshStore();
    const floats = new Float32Array([0.5, -1.25, 3e-7, 42]);
    await store.put("floats.bin", new Uint8Array(floats.buffer));
    const bytes = await store.get("floats.bin");
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(16);
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual(Array.from(floats));
  });

  it("round-trips a multi-MB Node stream, read back as a stream", async () => {
    const store = freshStore();
    const bytes = deterministicBytes(10 * MiB + 12_345, 2);
    const ref = await store.put("big/stream.bin", Readable.from(chunked(bytes)));

    expect(ref.sha256).toBe(independentSha256(bytes));
    expect(ref.sizeBytes).toBe(BigInt(bytes.length));
    expect((await collect(await store.getStream(ref))).equals(bytes)).toBe(true);
    expect(await store.list("")).toEqual(["big/stream.bin"]);
    expect(await harness.leftovers(store.bucket)).toEqual([]);
  });

  it("round-trips an async-iterable body and empty bodies", async () => {
    const store = freshStore();
    const bytes = deterministicBytes(300_000, 3);
    const ref = await store.put("iter.bin", chunked(bytes, 7_919));
    expect(ref.sha256).toBe(independentSha256(bytes));
    expect(Buffer.from(await store.get(ref)).equals(bytes)).toBe(true);

    const emptyFromBytes = await store.put("empty-bytes.bin", new Uint8Array(0));
    const emptyFromStream = await store.put("empty-stream.bin", Readable.from([]));
    for (const ref of [emptyFromBytes, emptyFromStream]) {
      expect(ref.sizeBytes).toBe(0n);
      expect(ref.sha256).toBe(independentSha256(new Uint8Array(0)));
      expect((await store.get(ref)).length).toBe(0);
    }
    expect((await store.stat("empty-bytes.bin"))?.contentType).toBe("application/octet-stream");
  });

  it("reports missing objects as undefined, false or ArtifactNotFoundError naming bucket and key", async () => {
    const store = freshStore();
    await store.put("present.bin", new Uint8Array([9]));
    expect(await store.stat("absent.bin")).toBeUndefined();
    expect(await store.exists("absent.bin")).toBe(false);

    const error = await rejection(store.get("absent.bin"));
    expect(error).toBeInstanceOf(ArtifactNotFoundError);
    expect(error.message).toContain(`${store.bucket}/absent.bin`);
    await expect(store.getStream("absent/deeper.bin")).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(
      store.get({ bucket: store.bucket, key: "absent.bin", sha256: independentSha256(new Uint8Array([9])), sizeBytes: 1n }),
    ).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it("lists keys by prefix, sorted, with a key and its 'subfolder' side by side", async () => {
    const store = freshStore();
    const keys = ["runs/b/w.bin", "runs/a/w.bin", "runs/a/m.bin", "runsx/w.bin", "other.bin", "runs", "runs/seed=3/mask.bin"];
    for (const [index, key] of keys.entries()) await store.put(key, new Uint8Array([index]));

    expect(await store.list("runs/")).toEqual(["runs/a/m.bin", "runs/a/w.bin", "runs/b/w.bin", "runs/seed=3/mask.bin"]);
    expect(await store.list("runs/a/")).toEqual(["runs/a/m.bin", "runs/a/w.bin"]);
    expect(await store.list("runs/a")).toEqual(["runs/a/m.bin", "runs/a/w.bin"]);
    expect(await store.list("runs")).toEqual(["runs", ...(await store.list("runs/")), "runsx/w.bin"]);
    expect(await store.list("")).toEqual([...keys].sort());
    expect(await store.list()).toEqual([...keys].sort());
    expect(await store.list("nothing/")).toEqual([]);
    expect(Array.from(await store.get("runs"))).toEqual([5]);
    await expect(store.list("/runs")).rejects.toBeInstanceOf(InvalidArtifactKeyError);
  });

  it("deletes, and deleting a missing key is not an error", async () => {
    const store = freshStore();
    await store.put("keep.bin", new Uint8Array([1]));
    await store.put("drop/me.bin", deterministicBytes(1000, 4));
    await store.delete("drop/me.bin");

    expect(await store.exists("drop/me.bin")).toBe(false);
    expect(await store.stat("drop/me.bin")).toBeUndefined();
    await expect(store.get("drop/me.bin")).rejects.toBeInstanceOf(ArtifactNotFoundError);
    expect(await store.list("")).toEqual(["keep.bin"]);
    await store.delete("drop/me.bin");
    await store.delete("never/was.bin");
    expect(await store.exists("keep.bin")).toBe(true);
    expect(await harness.leftovers(store.bucket)).toEqual([]);
  });

  it("overwrites an object, and the old ref no longer reads", async () => {
    const store = freshStore();
    const first = deterministicBytes(5000, 5);
    const second = deterministicBytes(7000, 6);
    const oldRef = await store.put("w.bin", first);
    const newRef = await store.put("w.bin", Readable.from(chunked(second, 1000)));

    expect(newRef.sha256).toBe(independentSha256(second));
    expect(Buffer.from(await store.get("w.bin")).equals(second)).toBe(true);
    expect((await store.stat("w.bin"))?.sizeBytes).toBe(7000n);
    await expect(store.get(oldRef)).rejects.toBeInstanceOf(ArtifactIntegrityError);
    expect(await harness.leftovers(store.bucket)).toEqual([]);
  });

  it("keeps the previous object and leaves nothing behind when the body stream fails midway", async () => {
    const store = freshStore();
    const original = deterministicBytes(1000, 9);
    await store.put("w.bin", original);
    async function* failingBody(): AsyncGenerator<Uint8Array> {
      yield* chunked(deterministicBytes(11 * MiB, 10));
      throw new Error("source failed");
    }

    await expect(store.put("w.bin", failingBody())).rejects.toThrow("source failed");
    await expect(store.put("fresh.bin", failingBody())).rejects.toThrow("source failed");
    expect(Buffer.from(await store.get("w.bin")).equals(original)).toBe(true);
    expect(await store.exists("fresh.bin")).toBe(false);
    expect(await store.list("")).toEqual(["w.bin"]);
    expect(await harness.leftovers(store.bucket)).toEqual([]);
  });

  it("detects corrupted content on get and at the end of getStream", async () => {
    const store = freshStore();
    const bytes = deterministicBytes(300_000, 7);
    const ref = await store.put("corrupt/me.bin", bytes);
    await harness.corrupt(store, "corrupt/me.bin");

    const error = await rejection(store.get("corrupt/me.bin"));
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    expect(error.message).toContain(`${store.bucket}/corrupt/me.bin`);
    await expect(store.get(ref)).rejects.toBeInstanceOf(ArtifactIntegrityError);
    const stream = await store.getStream(ref);
    await expect(collect(stream)).rejects.toBeInstanceOf(ArtifactIntegrityError);
  });

  it("refuses a ref whose sha256, size or bucket differs from the stored object", async () => {
    const store = freshStore();
    const ref = await store.put("r.bin", deterministicBytes(2000, 8));

    await expect(store.get({ ...ref, sha256: independentSha256(new Uint8Array([1])) })).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(store.getStream({ ...ref, sha256: "0".repeat(64) })).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(store.get({ ...ref, sizeBytes: 1999n })).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(store.get({ ...ref, bucket: "some-other-bucket" })).rejects.toBeInstanceOf(InvalidArtifactKeyError);
    expect((await store.get(ref)).length).toBe(2000);
  });

  it("rejects invalid keys in every operation without writing anything", async () => {
    const store = freshStore();
    const ref = (key: string) => ({ bucket: store.bucket, key, sha256: "0".repeat(64), sizeBytes: 0n });
    for (const key of REJECTED_KEYS) {
      const attempts = [
        () => store.put(key, new Uint8Array([1])),
        () => store.put(key, Readable.from([Buffer.from("x")])),
        () => store.get(key),
        () => store.get(ref(key)),
        () => store.getStream(key),
        () => store.stat(key),
        () => store.exists(key),
        () => store.delete(key),
      ];
      for (const attempt of attempts) {
        const error = await rejection(attempt());
        expect(error, JSON.stringify(key)).toBeInstanceOf(InvalidArtifactKeyError);
        expect(error.message).toContain(store.bucket);
      }
    }
    expect(await harness.rawEntries(store.bucket)).toEqual([]);
    expect(await harness.bucketExists(store.bucket)).toBe(false);
  });

  it("accepts a key of exactly 1024 characters", async () => {
    const store = freshStore();
    const segments = Array.from({ length: 5 }, (_, i) => String(i).repeat(200));
    const key = [...segments, "k".repeat(1024 - 5 * 201)].join("/");
    expect(key.length).toBe(1024);
    await store.put(key, new Uint8Array([7]));
    expect(await store.list(segments[0]!)).toEqual([key]);
    expect(Array.from(await store.get(key))).toEqual([7]);
  });

  it("lands concurrent puts of different keys, also from two stores racing to create the bucket", async () => {
    const bucket = freshBucket();
    const [one, two] = [harness.open(bucket), harness.open(bucket)];
    const bodies = [1, 2, 3, 4].map((seed) => deterministicBytes(50_000, 100 + seed));
    const refs = await Promise.all([
      one.put("c/1.bin", bodies[0]!),
      two.put("c/2.bin", bodies[1]!),
      one.put("c/3.bin", Readable.from(chunked(bodies[2]!, 4096))),
      two.put("c/4.bin", chunked(bodies[3]!, 5000)),
    ]);

    expect(await one.list("c/")).toEqual(["c/1.bin", "c/2.bin", "c/3.bin", "c/4.bin"]);
    for (const [index, ref] of refs.entries()) {
      expect(ref.sha256).toBe(independentSha256(bodies[index]!));
      expect(Buffer.from(await two.get(ref)).equals(bodies[index]!)).toBe(true);
    }
  });
}
