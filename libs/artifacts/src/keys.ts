import { InvalidArtifactKeyError, InvalidBucketNameError } from "./errors.js";

/**
 * Key rules, shared by every store so that a key valid on one is valid on all:
 * - 1 to 1024 characters in total (all allowed characters are ASCII, so bytes = characters);
 * - segments separated by single `/`: no leading or trailing `/`, no empty segment;
 * - each segment is 1 to 200 characters from `A-Z a-z 0-9 . _ = -`
 *   (`=` allows hive-style segments such as `seed=3`); the 200 limit keeps the
 *   local store's file names (segment + suffix) under the usual 255-byte limit;
 * - no `.` or `..` segment.
 * Everything else (backslash, spaces, control characters, `~`, non-ASCII) is rejected.
 * `~` in particular never appears in a valid key, so stores use it for internal names.
 */
export const MAX_KEY_LENGTH = 1024;
export const MAX_SEGMENT_LENGTH = 200;
const SEGMENT_PATTERN = /^[A-Za-z0-9._=-]+$/;

/** Returns why `key` is invalid, or undefined when it is valid. */
export function keyProblem(key: string): string | undefined {
  if (typeof key !== "string" || key.length === 0) return "the key is empty";
  if (key.length > MAX_KEY_LENGTH) return `the key is longer than ${MAX_KEY_LENGTH} bytes`;
  if (key.startsWith("/")) return "the key starts with '/'";
  for (const segment of key.split("/")) {
    if (segment.length === 0) return "the key has an empty segment";
    if (segment === "." || segment === "..") return `the key has a '${segment}' segment`;
    if (segment.length > MAX_SEGMENT_LENGTH) return `a segment is longer than ${MAX_SEGMENT_LENGTH} characters`;
    if (!SEGMENT_PATTERN.test(segment)) {
      return "segments may only contain A-Z, a-z, 0-9, '.', '_', '=' and '-'";
    }
  }
  return undefined;
}

export function assertValidKey(bucket: string, key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidArtifactKeyError(bucket, key, problem);
}

/**
 * A list prefix is any beginning of a valid key: empty, or characters from the
 * key alphabet and `/`, not starting with `/`, at most 1024 characters.
 */
export function assertValidPrefix(bucket: string, prefix: string): void {
  if (typeof prefix !== "string" || prefix.length > MAX_KEY_LENGTH || !/^([A-Za-z0-9._=-][A-Za-z0-9._=/-]*)?$/.test(prefix)) {
    throw new InvalidArtifactKeyError(bucket, prefix, "a list prefix must be the beginning of a valid key");
  }
}

/**
 * S3 bucket naming rules (general-purpose buckets): 3 to 63 characters, lowercase
 * letters, digits, `.` and `-`; dot-separated labels that start and end with a
 * letter or digit; not shaped like an IPv4 address; no reserved prefix or suffix.
 */
export function bucketNameProblem(bucket: string): string | undefined {
  if (typeof bucket !== "string" || bucket.length < 3 || bucket.length > 63) {
    return "a bucket name has 3 to 63 characters";
  }
  const labels = bucket.split(".");
  if (!labels.every((label) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(label))) {
    return "use lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit";
  }
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return "a bucket name must not look like an IP address";
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(bucket)) return "the bucket name uses a reserved prefix";
  if (/(-s3alias|--ol-s3|--x-s3|--table-s3)$/.test(bucket) || bucket.endsWith(".mrap")) {
    return "the bucket name uses a reserved suffix";
  }
  return undefined;
}

export function assertValidBucketName(bucket: string): void {
  const problem = bucketNameProblem(bucket);
  if (problem !== undefined) throw new InvalidBucketNameError(bucket, problem);
}
