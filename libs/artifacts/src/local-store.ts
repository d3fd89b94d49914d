import { createHash, randomUUID } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { ArtifactIntegrityError, ArtifactNotFoundError, InvalidArtifactKeyError, StoreAccessError } from "./errors.js";
import { assertValidBucketName, assertValidKey, assertValidPrefix } from "./keys.js";
import {
  DEFAULT_CONTENT_TYPE,
  assertRefMatches,
  chunksOf,
  integrityError,
  keyOfRef,
  verifiedStream,
  type ArtifactBody,
  type ArtifactInfo,
  type ArtifactRefLike,
  type ArtifactStore,
  type PutOptions,
} from "./store.js";

export interface LocalArtifactStoreConfig {
  /** Directory holding one subdirectory per bucket. */
  rootDir: string;
  bucket: string;
}

/** Contents of the metadata sidecar, the commit point of a put. */
interface Sidecar {
  sha256: string;
  sizeBytes: string;
  contentType: string;
  /** Name of the data file, in the same directory. */
  dataFile: string;
}

const SIDECAR_SUFFIX = "~meta.json";

/**
 * Artifact store in a local directory: key `a/b/name` lives in `<root>/<bucket>/a/b/` as
 * - `name~<uuid>.data`: the bytes, under a name unique to each put;
 * - `name~meta.json`: the sidecar {sha256, sizeBytes, contentType, dataFile}.
 * A put writes and fsyncs a fresh data file, then atomically replaces the sidecar
 * (temp file, fsync, rename): the rename is the commit, so readers see either the
 * old pair or the new one, never a mix. `~` cannot occur in keys, so these names
 * never clash with other keys, and `a` and `a/b` can both exist.
 * Not guarded: symbolic links placed inside the root by someone else.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly bucket: string;
  readonly rootDir: string;
  private readonly bucketDir: string;

  constructor(config: LocalArtifactStoreConfig) {
    assertValidBucketName(config.bucket);
    this.bucket = config.bucket;
    this.rootDir = resolve(config.rootDir);
    this.bucketDir = join(this.rootDir, this.bucket);
  }

  put(key: string, body: ArtifactBody, options: PutOptions = {}): Promise<ArtifactRefLike> {
    return this.withoutPaths(key, "write", () => this.write(key, body, options));
  }

  /** One read of the whole file into one buffer, then one hash: a stream of 64 KB chunks took 2-3 times as long. */
  get(ref: ArtifactRefLike | string): Promise<Uint8Array> {
    return this.withoutPaths(typeof ref === "string" ? ref : ref.key, "read", async () => {
      const { handle, recorded } = await this.openData(ref);
      try {
        // A buffer of its own (callers view it as floats), of the recorded size.
        const bytes = new Uint8Array(Number(recorded.sizeBytes));
        let size = 0;
        for (;;) {
          // Past the recorded size, into a scratch byte: a file that grew is caught as one that shrank is.
          const { bytesRead } = size < bytes.length ? await handle.read(bytes, size, bytes.length - size) : await handle.read(new Uint8Array(1), 0, 1);
          if (bytesRead === 0) break;
          size += bytesRead;
          if (size > bytes.length) break;
        }
        const error = integrityError(recorded, BigInt(size), createHash("sha256").update(bytes).digest("hex"));
        if (error) throw error;
        return bytes;
      } finally {
        await handle.close();
      }
    });
  }

  getStream(ref: ArtifactRefLike | string): Promise<Readable> {
    return this.withoutPaths(typeof ref === "string" ? ref : ref.key, "read", async () => {
      const { handle, recorded } = await this.openData(ref);
      return verifiedStream(handle.createReadStream(), recorded);
    });
  }

  private async write(key: string, body: ArtifactBody, options: PutOptions): Promise<ArtifactRefLike> {
    const { dir, name, sidecarPath } = this.locate(key);
    await mkdir(dir, { recursive: true });

    const dataFile = `${name}~${randomUUID()}.data`;
    const dataPath = join(dir, dataFile);
    const hash = createHash("sha256");
    let size = 0;
    const handle = await open(dataPath, "wx");
    try {
      for await (const chunk of chunksOf(body)) {
        hash.update(chunk);
        size += chunk.length;
        await writeAll(handle, chunk);
      }
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(dataPath, { force: true });
      throw error;
    }
    await handle.close();

    const sidecar: Sidecar = {
      sha256: hash.digest("hex"),
      sizeBytes: String(size),
      contentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
      dataFile,
    };
    // A malformed previous sidecar must not block replacing it.
    const previous = await this.readSidecar(key).catch(() => undefined);
    try {
      await writeFileAtomically(sidecarPath, JSON.stringify(sidecar));
    } catch (error) {
      await rm(dataPath, { force: true });
      throw error;
    }
    // The replaced data file is unreachable now; a reader that already opened it keeps reading it.
    if (previous !== undefined && previous.dataFile !== dataFile) await rm(join(dir, previous.dataFile), { force: true });
    await syncDirectory(dir);
    return { bucket: this.bucket, key, sha256: sidecar.sha256, sizeBytes: BigInt(size) };
  }

  /** The data file of the object `ref` names, opened, and what its sidecar recorded. */
  private async openData(ref: ArtifactRefLike | string): Promise<{ handle: FileHandle; recorded: ArtifactRefLike }> {
    const key = keyOfRef(this.bucket, ref);
    const { dir } = this.locate(key);
    // A concurrent put may delete the data file between reading the sidecar and opening it: read again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const sidecar = await this.readSidecar(key);
      if (sidecar === undefined) throw new ArtifactNotFoundError(this.bucket, key);
      const recorded = this.refOf(key, sidecar);
      assertRefMatches(ref, recorded);
      let handle: FileHandle;
      try {
        handle = await open(join(dir, sidecar.dataFile), "r");
      } catch (error) {
        if (isMissingFileError(error)) continue;
        throw error;
      }
      return { handle, recorded };
    }
    throw new ArtifactIntegrityError(this.bucket, key, "the metadata sidecar names a data file that does not exist");
  }

  async stat(key: string): Promise<ArtifactInfo | undefined> {
    const sidecar = await this.withoutPaths(key, "read", () => this.readSidecar(key));
    return sidecar === undefined ? undefined : { ...this.refOf(key, sidecar), contentType: sidecar.contentType };
  }

  async exists(key: string): Promise<boolean> {
    return (await this.withoutPaths(key, "read", () => this.readSidecar(key))) !== undefined;
  }

  async list(prefix = ""): Promise<string[]> {
    assertValidPrefix(this.bucket, prefix);
    // Only walk the directory the prefix's complete segments point to.
    const fixedDir = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const startDir = join(this.bucketDir, ...fixedDir.split("/").filter(Boolean));
    let entries: string[];
    try {
      entries = await this.withoutPaths(prefix, "list", () => readdir(startDir, { recursive: true }));
    } catch (error) {
      if (isMissingFileError(error)) return [];
      throw error;
    }
    return entries
      .filter((entry) => entry.endsWith(SIDECAR_SUFFIX))
      .map((entry) => relative(this.bucketDir, join(startDir, entry.slice(0, -SIDECAR_SUFFIX.length))).split(sep).join("/"))
      .filter((key) => key.startsWith(prefix))
      .sort();
  }

  async delete(key: string): Promise<void> {
    const { dir, sidecarPath } = this.locate(key);
    const sidecar = await this.readSidecar(key).catch(() => undefined);
    // Sidecar first: once it is gone the object is gone, even if removing the data fails.
    await this.withoutPaths(key, "delete", async () => {
      await rm(sidecarPath, { force: true });
      if (sidecar !== undefined) await rm(join(dir, sidecar.dataFile), { force: true });
    });
  }

  /** File-system errors name this machine's paths; callers get the key and the error code instead. */
  private async withoutPaths<T>(key: string, operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (typeof e.code === "string" && typeof e.syscall === "string" && !isMissingFileError(e)) throw new StoreAccessError(this.bucket, key, operation, e.code);
      throw error;
    }
  }

  /** Paths for a key, after validating it and checking they stay inside the bucket directory. */
  private locate(key: string): { dir: string; name: string; sidecarPath: string } {
    assertValidKey(this.bucket, key);
    const segments = key.split("/");
    const name = segments.pop()!;
    const dir = resolve(this.bucketDir, ...segments);
    const sidecarPath = join(dir, name + SIDECAR_SUFFIX);
    if (!sidecarPath.startsWith(this.bucketDir + sep)) {
      throw new InvalidArtifactKeyError(this.bucket, key, "the key resolves outside the store directory");
    }
    return { dir, name, sidecarPath };
  }

  private async readSidecar(key: string): Promise<Sidecar | undefined> {
    const { sidecarPath } = this.locate(key);
    let text: string;
    try {
      text = await readFile(sidecarPath, "utf8");
    } catch (error) {
      if (isMissingFileError(error)) return undefined;
      throw error;
    }
    const sidecar = parseSidecar(text);
    if (sidecar === undefined) throw new ArtifactIntegrityError(this.bucket, key, "the metadata sidecar is malformed");
    return sidecar;
  }

  private refOf(key: string, sidecar: Sidecar): ArtifactRefLike {
    return { bucket: this.bucket, key, sha256: sidecar.sha256, sizeBytes: BigInt(sidecar.sizeBytes) };
  }
}

function parseSidecar(text: string): Sidecar | undefined {
  try {
    const value = JSON.parse(text) as Partial<Sidecar>;
    const valid =
      typeof value.sha256 === "string" && /^[0-9a-f]{64}$/.test(value.sha256) &&
      typeof value.sizeBytes === "string" && /^\d+$/.test(value.sizeBytes) &&
      typeof value.contentType === "string" &&
      typeof value.dataFile === "string" && /^[A-Za-z0-9._=-]+~[0-9a-f-]+\.data$/.test(value.dataFile);
    return valid ? (value as Sidecar) : undefined;
  } catch {
    return undefined;
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

async function writeFileAtomically(path: string, text: string): Promise<void> {
  const tempPath = `${path}.${randomUUID()}.tmp`;
  const handle = await open(tempPath, "wx");
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tempPath, { force: true });
    throw error;
  }
  await handle.close();
  await rename(tempPath, path);
}

/** Makes the renames durable; some platforms cannot fsync a directory, which only weakens durability. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

function isMissingFileError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
