import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalArtifactStore, S3ArtifactStore, createArtifactStore, s3ConfigFromEnv } from "../src/index.js";

const credentials = { MINIO_ACCESS_KEY: "access", MINIO_SECRET_KEY: "secret" };

describe("s3ConfigFromEnv", () => {
  it("reads host, port, TLS, credentials and the default bucket", () => {
    expect(s3ConfigFromEnv({ MINIO_ENDPOINT: "http://127.0.0.1:9000", ...credentials })).toEqual({
      endPoint: "127.0.0.1",
      port: 9000,
      useSSL: false,
      accessKey: "access",
      secretKey: "secret",
      bucket: "gap-lab",
    });
  });

  it("uses the scheme's default port, MINIO_BUCKET and MINIO_REGION", () => {
    const config = s3ConfigFromEnv({ MINIO_ENDPOINT: "https://minio.example", MINIO_BUCKET: "runs", MINIO_REGION: "eu-west-1", ...credentials });
    expect(config).toMatchObject({ endPoint: "minio.example", port: 443, useSSL: true, bucket: "runs", region: "eu-west-1" });
    expect(s3ConfigFromEnv({ MINIO_ENDPOINT: "http://minio", ...credentials }).port).toBe(80);
    expect(s3ConfigFromEnv({ MINIO_ENDPOINT: "http://[::1]:9000", ...credentials }).endPoint).toBe("::1");
  });

  it("refuses incomplete or malformed settings", () => {
    expect(() => s3ConfigFromEnv({ ...credentials })).toThrow("MINIO_ENDPOINT");
    expect(() => s3ConfigFromEnv({ MINIO_ENDPOINT: "127.0.0.1:9000", ...credentials })).toThrow("http");
    expect(() => s3ConfigFromEnv({ MINIO_ENDPOINT: "not a url", ...credentials })).toThrow("URL");
    expect(() => s3ConfigFromEnv({ MINIO_ENDPOINT: "http://h:9000/path", ...credentials })).toThrow("scheme, host and port");
    expect(() => s3ConfigFromEnv({ MINIO_ENDPOINT: "http://h:9000", MINIO_ACCESS_KEY: "a" })).toThrow("MINIO_SECRET_KEY");
  });
});

describe("createArtifactStore", () => {
  it("uses a local store under .gap/store of the working directory by default", () => {
    const store = createArtifactStore({}, "/srv/lab");
    expect(store).toBeInstanceOf(LocalArtifactStore);
    expect((store as LocalArtifactStore).rootDir).toBe(join("/srv/lab", ".gap/store"));
    expect(store.bucket).toBe("gap-lab");
  });

  it("honours GAP_STORE_DIR, relative or absolute, and MINIO_BUCKET", () => {
    expect((createArtifactStore({ GAP_STORE_DIR: "data/store" }, "/srv/lab") as LocalArtifactStore).rootDir).toBe("/srv/lab/data/store");
    const store = createArtifactStore({ GAP_STORE_DIR: "/var/gap", MINIO_BUCKET: "other" }, "/srv/lab") as LocalArtifactStore;
    expect([store.rootDir, store.bucket]).toEqual(["/var/gap", "other"]);
  });

  it("uses S3 when MINIO_ENDPOINT is set", () => {
    const store = createArtifactStore({ MINIO_ENDPOINT: "http://127.0.0.1:9000", MINIO_BUCKET: "weights", ...credentials });
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect(store.bucket).toBe("weights");
  });
});
