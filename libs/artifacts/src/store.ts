import { createHash } from "node:crypto";
import { Transform, pipeline, type Readable } from "node:stream";
import { ArtifactIntegrityError, InvalidArtifactKeyError } from "./errors.js";
import { assertValidKey } from "./keys.js";

/** Where an artifact lives and what it must hash to (structurally matches the proto ArtifactRef). */
export interface ArtifactRefLike {
  bucket: string;
  key: string;
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string;
  sizeBytes: bigint;
}

/** What `stat` reports: the reference plus the stored content type. */
export interface ArtifactInfo extends ArtifactRefLike {
  contentType: string;
}

export type ArtifactBody = Uint8Array | NodeJS.ReadableStream | AsyncIterable<Uint8Array>;

export interface PutOptions {
  /** Stored with the object; defaults to application/octet-stream. */
  contentType?: string;
}

export interface ArtifactStore {
  readonly bucket: string;
  /** Stores the body under `key` (replacing any previous object) and returns its reference. Streams are hashed while written. */
  put(key: string, body: ArtifactBody, options?: PutOptions): Promise<ArtifactRefLike>;
  /** Reads the whole object, checking the sha256 and size recorded at `put` (and those of `ref`, when a ref is given). */
  get(ref: ArtifactRefLike | string): Promise<Uint8Array>;
  /** Like `get` but streaming: the stream errors with ArtifactIntegrityError at its end if the bytes do not match. */
  getStream(ref: ArtifactRefLike | string): Promise<Readable>;
  /** The object's reference, or undefined when it does not exist. */
  stat(key: string): Promise<ArtifactInfo | undefined>;
  exists(key: string): Promise<boolean>;
  /** Keys starting with `prefix`, sorted. */
  list(prefix?: string): Promise<string[]>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
}

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Validates the key of a ref (or key string) and that the ref targets this store's bucket. */
export function keyOfRef(bucket: string, ref: ArtifactRefLike | string): string {
  const key = typeof ref === "string" ? ref : ref.key;
  assertValidKey(bucket, key);
  if (typeof ref !== "string" && ref.bucket !== bucket) {
    throw new InvalidArtifactKeyError(bucket, key, `the reference points to bucket ${ref.bucket}, not ${bucket}`);
  }
  return key;
}

/** Throws when a caller's ref disagrees with what the store recorded for the object. */
export function assertRefMatches(ref: ArtifactRefLike | string, recorded: ArtifactRefLike): void {
  if (typeof ref === "string") return;
  if (ref.sha256 !== recorded.sha256) {
    throw new ArtifactIntegrityError(recorded.bucket, recorded.key, `requested sha256 ${ref.sha256} but the stored object has ${recorded.sha256}`);
  }
  if (ref.sizeBytes !== recorded.sizeBytes) {
    throw new ArtifactIntegrityError(recorded.bucket, recorded.key, `requested ${ref.sizeBytes} bytes but the stored object has ${recorded.sizeBytes}`);
  }
}

/** Normalises any accepted body into Buffers without copying them. */
export async function* chunksOf(body: ArtifactBody): AsyncGenerator<Buffer> {
  if (body instanceof Uint8Array) {
    yield toBuffer(body);
    return;
  }
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
    yield typeof chunk === "string" ? Buffer.from(chunk) : toBuffer(chunk);
  }
}

export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Pipes `source` through a hashing pass-through that fails the stream with
 * ArtifactIntegrityError when the bytes differ from `expected` (size is checked as
 * soon as it is exceeded, the sha256 at the end).
 */
export function verifiedStream(source: Readable, expected: ArtifactRefLike): Readable {
  const hash = createHash("sha256");
  let size = 0n;
  const verifier = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += BigInt(chunk.length);
      if (size > expected.sizeBytes) {
        callback(new ArtifactIntegrityError(expected.bucket, expected.key, `more than the expected ${expected.sizeBytes} bytes`));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      callback(integrityError(expected, size, hash.digest("hex")));
    },
  });
  // pipeline forwards source errors to the verifier and destroys the source when the reader gives up.
  pipeline(source, verifier, () => {});
  return verifier;
}

/** The error for bytes read whole (size and sha256) that are not the expected object, or undefined when they are. */
export function integrityError(expected: ArtifactRefLike, size: bigint, sha256: string): ArtifactIntegrityError | undefined {
  if (size !== expected.sizeBytes) return new ArtifactIntegrityError(expected.bucket, expected.key, `read ${size} bytes, expected ${expected.sizeBytes}`);
  if (sha256 !== expected.sha256) return new ArtifactIntegrityError(expected.bucket, expected.key, `content hashes to ${sha256}, expected ${expected.sha256}`);
  return undefined;
}

/**
 * Collects a stream into a Uint8Array that owns its whole ArrayBuffer (offset 0,
 * not a slice of Node's shared pool), so callers can view it as e.g. a Float32Array.
 */
export async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
