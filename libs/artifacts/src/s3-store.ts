import http from "node:http";
import https from "node:https";
import { createHash, randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { createRequire } from "node:module";
import type { BucketItem, Client } from "minio";
import { ArtifactIntegrityError, ArtifactNotFoundError } from "./errors.js";
import { DEFAULT_STORE_RETRY, withStoreRetries, type StoreRetryPolicy } from "./retry.js";
import { assertValidBucketName, assertValidKey, assertValidPrefix } from "./keys.js";
import {
  DEFAULT_CONTENT_TYPE,
  assertRefMatches,
  chunksOf,
  keyOfRef,
  readAll,
  sha256Hex,
  toBuffer,
  verifiedStream,
  type ArtifactBody,
  type ArtifactInfo,
  type ArtifactRefLike,
  type ArtifactStore,
  type PutOptions,
} from "./store.js";

// The S3 client takes 200-330 ms to import: loaded when an S3 store is made, so that
// a process on the local store (every service of the local cluster) never pays for it.
const minio = () => createRequire(import.meta.url)("minio") as typeof import("minio");

export interface S3ArtifactStoreConfig {
  /** Host name or IP, without scheme or port. */
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Defaults to us-east-1 (MinIO's default). */
  region?: string;
  /** Size of the parts of a streamed upload, at least 5 MiB (S3's minimum part size). Default 8 MiB. */
  partSizeBytes?: number;
  /** How long calls are retried through connection failures and 5xx answers (default 60 s). */
  retry?: StoreRetryPolicy;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Streamed uploads go here first. `~` never occurs in valid keys, so these never clash with artifacts. */
export const S3_UPLOAD_PREFIX = "~uploads/";
/** User-metadata name of the sha256, sent as the `x-amz-meta-sha256` header. */
const SHA256_HEADER = "x-amz-meta-sha256";

/**
 * Artifact store on any S3-compatible server (MinIO, s3rver), using plain S3 calls only.
 *
 * put: the sha256 is stored as user metadata, which S3 only accepts when an object
 * is created. A body that fits in one part (any Uint8Array, or a stream that ends
 * within `partSizeBytes`) is hashed first and sent with a single PUT. A longer
 * stream is sent as a multipart upload to a temporary key `~uploads/<uuid>` while it
 * is hashed, part by part (at most two parts in memory), then copied server-side to
 * the final key with the metadata (CopyObject, metadata directive REPLACE) and the
 * temporary object is deleted. The final key therefore only ever holds complete
 * objects that carry their sha256. Server-side copy in one request is limited to
 * 5 GiB, far above any artifact of this project.
 *
 * Every call is retried through connection failures, timeouts and 5xx answers
 * (withStoreRetries) for up to a minute, then fails as StoreUnavailableError.
 * Streamed uploads are retried only before their first byte is sent.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  /** The underlying client, for tests and administration. */
  readonly client: Client;
  private readonly region: string;
  private readonly partSize: number;
  private readonly retryPolicy: StoreRetryPolicy;
  private bucketReady: Promise<void> | undefined;

  constructor(config: S3ArtifactStoreConfig) {
    assertValidBucketName(config.bucket);
    this.bucket = config.bucket;
    this.region = config.region ?? "us-east-1";
    this.partSize = config.partSizeBytes ?? DEFAULT_PART_SIZE;
    this.retryPolicy = config.retry ?? DEFAULT_STORE_RETRY;
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new RangeError(`partSizeBytes must be an integer of at least ${MIN_PART_SIZE}`);
    }
    const { Client } = minio();
    this.client = new Client({
      endPoint: config.endPoint,
      port: config.port,
      useSSL: config.useSSL,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      region: this.region,
      pathStyle: true,
      // A pooled socket that the server closes as a request starts fails with "socket hang up"
      // (seen with s3rver's 5 s keep-alive); one connection per request avoids the race.
      transportAgent: config.useSSL ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false }),
    });
  }

  private retrying<T>(key: string, call: () => Promise<T>): Promise<T> {
    return withStoreRetries(this.bucket, key, call, this.retryPolicy);
  }

  async put(key: string, body: ArtifactBody, options: PutOptions = {}): Promise<ArtifactRefLike> {
    assertValidKey(this.bucket, key);
    await this.ensureBucket();
    const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE;
    if (body instanceof Uint8Array) return this.retrying(key, () => this.putSingle(key, toBuffer(body), contentType));

    const hash = createHash("sha256");
    let size = 0;
    let upload: MultipartUpload | undefined;
    try {
      let pending: Buffer | undefined;
      for await (const part of partsOf(chunksOf(body), this.partSize)) {
        hash.update(part);
        size += part.length;
        if (pending !== undefined) {
          upload ??= await MultipartUpload.start(this.client, this.bucket, S3_UPLOAD_PREFIX + randomUUID());
          await upload.send(pending);
        }
        pending = part;
      }
      if (upload === undefined) return await this.putSingle(key, pending ?? Buffer.alloc(0), contentType);
      await upload.send(pending!);
      await upload.complete();
    } catch (error) {
      await upload?.discard();
      throw error;
    }

    const sha256 = hash.digest("hex");
    try {
      const { CopySourceOptions, CopyDestinationOptions } = minio();
      await this.client.copyObject(
        new CopySourceOptions({ Bucket: this.bucket, Object: upload.key }),
        new CopyDestinationOptions({
          Bucket: this.bucket,
          Object: key,
          MetadataDirective: "REPLACE",
          UserMetadata: { sha256 },
          Headers: { "Content-Type": contentType },
        }),
      );
    } finally {
      await upload.discard();
    }
    return { bucket: this.bucket, key, sha256, sizeBytes: BigInt(size) };
  }

  async get(ref: ArtifactRefLike | string): Promise<Uint8Array> {
    // The whole read is retried: a connection that breaks mid-body is read again from the start.
    return this.retrying(keyOfRef(this.bucket, ref), async () => readAll(await this.openStream(ref)));
  }

  async getStream(ref: ArtifactRefLike | string): Promise<Readable> {
    return this.retrying(keyOfRef(this.bucket, ref), () => this.openStream(ref));
  }

  private async openStream(ref: ArtifactRefLike | string): Promise<Readable> {
    const key = keyOfRef(this.bucket, ref);
    let response: Readable;
    try {
      response = await this.client.getObject(this.bucket, key);
    } catch (error) {
      throw this.translate(error, key);
    }
    try {
      // minio returns the HTTP response itself: its headers carry the metadata of exactly these bytes.
      const headers = (response as Readable & { headers?: IncomingHttpHeaders }).headers;
      const recorded = headers ? this.refFromHeaders(key, headers) : await this.stat(key);
      if (recorded === undefined) throw new ArtifactNotFoundError(this.bucket, key);
      assertRefMatches(ref, recorded);
      return verifiedStream(response, recorded);
    } catch (error) {
      response.destroy();
      throw error;
    }
  }

  async stat(key: string): Promise<ArtifactInfo | undefined> {
    assertValidKey(this.bucket, key);
    try {
      const stat = await this.retrying(key, () => this.client.statObject(this.bucket, key));
      const sha256 = String(stat.metaData["sha256"] ?? "");
      return {
        ...this.recordedRef(key, sha256, BigInt(stat.size)),
        contentType: String(stat.metaData["content-type"] ?? DEFAULT_CONTENT_TYPE),
      };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(this.bucket, key);
    try {
      await this.retrying(key, () => this.client.statObject(this.bucket, key));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async list(prefix = ""): Promise<string[]> {
    assertValidPrefix(this.bucket, prefix);
    try {
      return await this.retrying(prefix, async () => {
        const keys: string[] = [];
        for await (const item of this.client.listObjectsV2(this.bucket, prefix, true) as AsyncIterable<BucketItem>) {
          if (item.name !== undefined && !item.name.startsWith(S3_UPLOAD_PREFIX)) keys.push(item.name);
        }
        return keys.sort();
      });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(this.bucket, key);
    try {
      await this.retrying(key, () => this.client.removeObject(this.bucket, key));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  private async putSingle(key: string, bytes: Buffer, contentType: string): Promise<ArtifactRefLike> {
    const sha256 = sha256Hex(bytes);
    await this.client.putObject(this.bucket, key, bytes, bytes.length, {
      "Content-Type": contentType,
      [SHA256_HEADER]: sha256,
    });
    return { bucket: this.bucket, key, sha256, sizeBytes: BigInt(bytes.length) };
  }

  /** Creates the bucket once per store; tolerates another process creating it at the same time. */
  private ensureBucket(): Promise<void> {
    this.bucketReady ??= this.createBucketIfMissing().catch((error: unknown) => {
      this.bucketReady = undefined;
      throw error;
    });
    return this.bucketReady;
  }

  private async createBucketIfMissing(): Promise<void> {
    if (await this.retrying("", () => this.client.bucketExists(this.bucket))) return;
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const lostRace = code === "BucketAlreadyOwnedByYou" || code === "BucketAlreadyExists";
      if (!lostRace || !(await this.client.bucketExists(this.bucket))) throw error;
    }
  }

  private refFromHeaders(key: string, headers: IncomingHttpHeaders): ArtifactRefLike {
    return this.recordedRef(key, String(headers[SHA256_HEADER] ?? ""), BigInt(headers["content-length"] ?? "-1"));
  }

  /** An object without a well-formed sha256 cannot be verified, so it is refused like a corrupted one. */
  private recordedRef(key: string, sha256: string, sizeBytes: bigint): ArtifactRefLike {
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new ArtifactIntegrityError(this.bucket, key, "the object carries no valid sha256 metadata");
    }
    return { bucket: this.bucket, key, sha256, sizeBytes };
  }

  private translate(error: unknown, key: string): unknown {
    return isMissing(error) ? new ArtifactNotFoundError(this.bucket, key, { cause: error }) : error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === "NoSuchKey" || code === "NotFound" || code === "NoSuchBucket";
}

/** Regroups chunks into Buffers of exactly `partSize` bytes (the last one may be shorter). */
async function* partsOf(chunks: AsyncIterable<Buffer>, partSize: number): AsyncGenerator<Buffer> {
  let buffered: Buffer[] = [];
  let bufferedSize = 0;
  for await (let chunk of chunks) {
    while (bufferedSize + chunk.length >= partSize) {
      const take = partSize - bufferedSize;
      yield Buffer.concat([...buffered, chunk.subarray(0, take)]);
      chunk = chunk.subarray(take);
      buffered = [];
      bufferedSize = 0;
    }
    if (chunk.length > 0) {
      // Copy: the producer may reuse its buffer once we ask for the next chunk.
      buffered.push(Buffer.from(chunk));
      bufferedSize += chunk.length;
    }
  }
  if (bufferedSize > 0) yield Buffer.concat(buffered);
}

/** One multipart upload to a temporary key. */
class MultipartUpload {
  private readonly parts: { part: number; etag: string }[] = [];
  private completed = false;

  private constructor(
    private readonly client: Client,
    private readonly bucket: string,
    readonly key: string,
    private readonly uploadId: string,
  ) {}

  static async start(client: Client, bucket: string, key: string): Promise<MultipartUpload> {
    const uploadId = await client.initiateNewMultipartUpload(bucket, key, {});
    return new MultipartUpload(client, bucket, key, uploadId);
  }

  async send(part: Buffer): Promise<void> {
    const partNumber = this.parts.length + 1;
    const { etag } = await this.client.uploadPart(
      { bucketName: this.bucket, objectName: this.key, uploadID: this.uploadId, partNumber, headers: { "Content-Length": part.length } },
      part,
    );
    this.parts.push({ part: partNumber, etag });
  }

  async complete(): Promise<void> {
    await this.client.completeMultipartUpload(this.bucket, this.key, this.uploadId, this.parts);
    this.completed = true;
  }

  /** Best-effort cleanup: aborts the upload or deletes the temporary object. */
  async discard(): Promise<void> {
    try {
      if (this.completed) await this.client.removeObject(this.bucket, this.key);
      else await this.client.abortMultipartUpload(this.bucket, this.key, this.uploadId);
    } catch {
      // A leftover under ~uploads/ is invisible to list() and harmless.
    }
  }
}
