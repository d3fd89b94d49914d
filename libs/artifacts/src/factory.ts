import { resolve } from "node:path";
import { LocalArtifactStore } from "./local-store.js";
import { S3ArtifactStore, type S3ArtifactStoreConfig } from "./s3-store.js";
import type { ArtifactStore } from "./store.js";

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_BUCKET = "gap-lab";
export const DEFAULT_STORE_DIR = ".gap/store";

/**
 * S3 settings from the environment:
 * MINIO_ENDPOINT (a URL such as http://127.0.0.1:9000; https turns TLS on),
 * MINIO_ACCESS_KEY, MINIO_SECRET_KEY (both required), MINIO_BUCKET (default gap-lab),
 * MINIO_REGION (optional).
 */
export function s3ConfigFromEnv(env: Env): S3ArtifactStoreConfig {
  const endpoint = env["MINIO_ENDPOINT"];
  if (!endpoint) throw new Error("MINIO_ENDPOINT is not set");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`MINIO_ENDPOINT must be a URL such as http://127.0.0.1:9000, got ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`MINIO_ENDPOINT must use http or https, got ${JSON.stringify(endpoint)}`);
  }
  if (url.pathname !== "/" || url.search !== "" || url.username !== "") {
    throw new Error(`MINIO_ENDPOINT must hold only scheme, host and port, got ${JSON.stringify(endpoint)}`);
  }
  const accessKey = env["MINIO_ACCESS_KEY"];
  const secretKey = env["MINIO_SECRET_KEY"];
  if (!accessKey || !secretKey) throw new Error("MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set with MINIO_ENDPOINT");
  const useSSL = url.protocol === "https:";
  return {
    // URL keeps IPv6 hosts in brackets; the client wants the bare address.
    endPoint: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey,
    secretKey,
    bucket: env["MINIO_BUCKET"] || DEFAULT_BUCKET,
    ...(env["MINIO_REGION"] ? { region: env["MINIO_REGION"] } : {}),
  };
}

/**
 * The store the environment asks for: S3/MinIO when MINIO_ENDPOINT is set, otherwise
 * a local directory, GAP_STORE_DIR (default .gap/store), relative to `cwd`, holding
 * bucket MINIO_BUCKET (default gap-lab).
 */
export function createArtifactStore(env: Env = process.env, cwd: string = process.cwd()): ArtifactStore {
  if (env["MINIO_ENDPOINT"]) return new S3ArtifactStore(s3ConfigFromEnv(env));
  return new LocalArtifactStore({
    rootDir: resolve(cwd, env["GAP_STORE_DIR"] || DEFAULT_STORE_DIR),
    bucket: env["MINIO_BUCKET"] || DEFAULT_BUCKET,
  });
}
