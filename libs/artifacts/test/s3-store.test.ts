import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactIntegrityError, S3ArtifactStore, S3_UPLOAD_PREFIX } from "../src/index.js";

describe("S3ArtifactStore specifics (s3rver)", () => {
  let server: S3rver;
  let directory: string;
  let store: S3ArtifactStore;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "gap-artifacts-s3-"));
    server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory });
    const { port } = await server.run();
    store = new S3ArtifactStore({ endPoint: "127.0.0.1", port, useSSL: false, accessKey: "S3RVER", secretKey: "S3RVER", bucket: "gap-specifics" });
    await store.put("seed.bin", new Uint8Array([1])); // creates the bucket
  });
  afterAll(async () => {
    await server?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("records the sha256 as x-amz-meta-sha256 user metadata", async () => {
    const ref = await store.put("meta.bin", new Uint8Array([1, 2, 3]));
    const stat = await store.client.statObject(store.bucket, "meta.bin");
    expect(stat.metaData["sha256"]).toBe(ref.sha256);
  });

  it("refuses to read an object written without sha256 metadata", async () => {
    await store.client.putObject(store.bucket, "foreign.bin", Buffer.from("written by someone else"));
    expect(await store.exists("foreign.bin")).toBe(true);
    expect(await store.list("foreign")).toEqual(["foreign.bin"]);
    await expect(store.stat("foreign.bin")).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(store.get("foreign.bin")).rejects.toThrow("no valid sha256 metadata");
  });

  it("hides leftover temporary uploads from list", async () => {
    await store.client.putObject(store.bucket, `${S3_UPLOAD_PREFIX}left-by-a-crash`, Buffer.from("partial"));
    expect(await store.list("")).not.toContain(`${S3_UPLOAD_PREFIX}left-by-a-crash`);
    expect(await store.list("")).toContain("seed.bin");
  });
});
