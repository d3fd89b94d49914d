export {
  ArtifactStoreError,
  ArtifactNotFoundError,
  ArtifactIntegrityError,
  InvalidArtifactKeyError,
  InvalidBucketNameError,
  StoreUnavailableError,
  StoreAccessError,
} from "./errors.js";
export { isTransientStoreError, withStoreRetries, DEFAULT_STORE_RETRY, type StoreRetryPolicy } from "./retry.js";
export {
  MAX_KEY_LENGTH,
  MAX_SEGMENT_LENGTH,
  keyProblem,
  assertValidKey,
  assertValidPrefix,
  bucketNameProblem,
  assertValidBucketName,
} from "./keys.js";
export {
  sha256Hex,
  DEFAULT_CONTENT_TYPE,
  type ArtifactRefLike,
  type ArtifactInfo,
  type ArtifactBody,
  type PutOptions,
  type ArtifactStore,
} from "./store.js";
export { LocalArtifactStore, type LocalArtifactStoreConfig } from "./local-store.js";
export { S3ArtifactStore, S3_UPLOAD_PREFIX, type S3ArtifactStoreConfig } from "./s3-store.js";
export { createArtifactStore, s3ConfigFromEnv, DEFAULT_BUCKET, DEFAULT_STORE_DIR, type Env } from "./factory.js";
