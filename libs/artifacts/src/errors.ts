/**
 * Typed errors of the artifact store. The gRPC layer maps them by class:
 * ArtifactNotFoundError → NOT_FOUND, InvalidArtifactKeyError and
 * InvalidBucketNameError → INVALID_ARGUMENT, ArtifactIntegrityError → DATA_LOSS.
 */
export class ArtifactStoreError extends Error {
  constructor(
    message: string,
    readonly bucket: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The object (or its bucket) does not exist. */
export class ArtifactNotFoundError extends ArtifactStoreError {
  constructor(bucket: string, key: string, options?: ErrorOptions) {
    super(`artifact not found: ${bucket}/${key}`, bucket, key, options);
  }
}

/** The stored bytes do not match the recorded or requested sha256/size. */
export class ArtifactIntegrityError extends ArtifactStoreError {
  constructor(bucket: string, key: string, detail: string) {
    super(`artifact integrity check failed for ${bucket}/${key}: ${detail}`, bucket, key);
  }
}

/** The key breaks the key rules (see keys.ts); nothing was read or written. */
export class InvalidArtifactKeyError extends ArtifactStoreError {
  constructor(bucket: string, key: string, reason: string) {
    super(`invalid artifact key ${JSON.stringify(key)} in bucket ${bucket}: ${reason}`, bucket, key);
  }
}

/** The bucket name breaks the S3 bucket naming rules. */
export class InvalidBucketNameError extends ArtifactStoreError {
  constructor(bucket: string, reason: string) {
    super(`invalid bucket name ${JSON.stringify(bucket)}: ${reason}`, bucket, "");
  }
}

/** The store did not answer, or answered with a server error, for longer than the store retries. */
export class StoreUnavailableError extends ArtifactStoreError {
  constructor(bucket: string, key: string, detail: string, options?: ErrorOptions) {
    super(`the artifact store is unavailable (${bucket}/${key}): ${detail}`, bucket, key, options);
  }
}

/** The store refused an operation on this machine (permissions, no space); the message names the key, not the server's paths. */
export class StoreAccessError extends ArtifactStoreError {
  constructor(bucket: string, key: string, operation: string, code: string) {
    super(`the artifact store cannot ${operation} ${bucket}/${key}: ${code}`, bucket, key);
  }
}
