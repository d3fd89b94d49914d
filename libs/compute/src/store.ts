import type { ArtifactKind, ArtifactRef } from "@gap/proto";
import { ConfigError } from "@gap/service-kit";
import { createArtifactStore, type ArtifactStore } from "@gap/artifacts";

/** A plain proto ArtifactRef for what the store returned. */
export function artifactRef(
  stored: { bucket: string; key: string; sha256: string; sizeBytes: bigint },
  kind: ArtifactKind,
): Omit<ArtifactRef, "$typeName"> {
  return { bucket: stored.bucket, key: stored.key, sha256: stored.sha256, sizeBytes: stored.sizeBytes, kind };
}

export const isSet = (ref: ArtifactRef | undefined): ref is ArtifactRef => ref !== undefined && ref.key !== "";

/** The store the environment names; a bad MINIO_* or store setting is a ConfigError. */
export function storeFromEnv(env: NodeJS.ProcessEnv): ArtifactStore {
  try {
    return createArtifactStore(env);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}
