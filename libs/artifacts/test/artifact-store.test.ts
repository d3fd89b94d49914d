import { existsSync } from "node:fs";
import { mkdtemp, open, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { Client, type BucketItem } from "minio";
import S3rver from "s3rver";
import { describe } from "vitest";
import {
  LocalArtifactStore,
  S3ArtifactStore,
  S3_UPLOAD_PREFIX,
  s3ConfigFromEnv,
  type S3ArtifactStoreConfig,
} from "../src/index.js";
import { artifactStoreContract, type StoreHarness } from "./contract.js";

const SIDECAR_SUFFIX = "~meta.json";

/** Paths of all files under `dir`, relative to it ([] when it does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name))).sort();
}

async function flipFirstByte(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 0);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, 0);
  } finally {
    await handle.close();
  }
}

async function localHarness(): Promise<StoreHarness> {
  const tempDir = await mkdtemp(join(tmpdir(), "gap-artifacts-local-"));
  // One root per store, so that anything written outside the bucket directory shows up in rawEntries.
  const rootOf = (bucket: string) => join(tempDir, bucket);
  const dataFileOf = async (sidecarPath: string) =>
    join(dirname(sidecarPath), (JSON.parse(await readFile(sidecarPath, "utf8")) as { dataFile: string }).dataFile);

  return {
    open: (bucket) => new LocalArtifactStore({ rootDir: rootOf(bucket), bucket }),
    bucketExists: async (bucket) => existsSync(join(rootOf(bucket), bucket)),
    corrupt: async (store, key) => flipFirstByte(await dataFileOf(join(rootOf(store.bucket), store.bucket, key + SIDECAR_SUFFIX))),
    rawEntries: (bucket) => filesUnder(rootOf(bucket)),
    async leftovers(bucket) {
      const root = rootOf(bucket);
      const files = await filesUnder(root);
      const needed = new Set<string>();
      for (const file of files.filter((name) => name.endsWith(SIDECAR_SUFFIX))) {
        needed.add(file);
        needed.add(relative(root, await dataFileOf(join(root, file))));
      }
      return files.filter((file) => !needed.has(file));
    },
    cleanup: () => rm(tempDir, { recursive: true, force: true }),
  };
}

async function objectNames(client: Client, bucket: string): Promise<string[]> {
  if (!(await client.bucketExists(bucket))) return [];
  const names: string[] = [];
  for await (const item of client.listObjectsV2(bucket, "", true) as AsyncIterable<BucketItem>) {
    if (item.name !== undefined) names.push(item.name);
  }
  return names.sort();
}

/** Harness over any S3 endpoint; buckets it opened are emptied and removed at cleanup. */
function s3Harness(config: S3ArtifactStoreConfig, afterCleanup?: () => Promise<void>): StoreHarness {
  const raw = new Client({ ...config, pathStyle: true });
  const openedBuckets = new Set<string>();

  return {
    open(bucket) {
      openedBuckets.add(bucket);
      // The smallest part size S3 allows, so a few MB already take the multipart path.
      return new S3ArtifactStore({ ...config, bucket, partSizeBytes: 5 * 1024 * 1024 });
    },
    bucketExists: (bucket) => raw.bucketExists(bucket),
    async corrupt(store, key) {
      // Rewrite the bytes but keep the recorded metadata, as silent corruption on the server would.
      const stat = await raw.statObject(store.bucket, key);
      const chunks: Buffer[] = [];
      for await (const chunk of await raw.getObject(store.bucket, key)) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      bytes[0] = bytes[0]! ^ 0xff;
      await raw.putObject(store.bucket, key, bytes, bytes.length, {
        "Content-Type": String(stat.metaData["content-type"]),
        "x-amz-meta-sha256": String(stat.metaData["sha256"]),
      });
    },
    rawEntries: (bucket) => objectNames(raw, bucket),
    leftovers: async (bucket) => (await objectNames(raw, bucket)).filter((name) => name.startsWith(S3_UPLOAD_PREFIX)),
    async cleanup() {
      for (const bucket of openedBuckets) {
        // One at a time: s3rver's multi-object delete races on removing empty folders and answers 500.
        for (const name of await objectNames(raw, bucket)) await raw.removeObject(bucket, name);
        if (await raw.bucketExists(bucket)) await raw.removeBucket(bucket);
      }
      await afterCleanup?.();
    },
  };
}

describe("LocalArtifactStore", () => {
  artifactStoreContract(localHarness);
});

describe("S3ArtifactStore on s3rver", () => {
  artifactStoreContract(async () => {
    const directory = await mkdtemp(join(tmpdir(), "gap-artifacts-s3rver-"));
    const server = new S3rver({ address: "127.0.0.1", port: 0, silent: !process.env["S3RVER_DEBUG"], directory });
    const { port } = await server.run();
    const config = { endPoint: "127.0.0.1", port, useSSL: false, accessKey: "S3RVER", secretKey: "S3RVER", bucket: "unused" };
    return s3Harness(config, async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    });
  });
});

const minioConfigured = Boolean(process.env["MINIO_ENDPOINT"] && process.env["MINIO_ACCESS_KEY"] && process.env["MINIO_SECRET_KEY"]);

describe.runIf(minioConfigured)("S3ArtifactStore on MINIO_ENDPOINT", () => {
  artifactStoreContract(async () => s3Harness(s3ConfigFromEnv(process.env)));
});
