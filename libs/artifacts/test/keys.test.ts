import { describe, expect, it } from "vitest";
import {
  InvalidArtifactKeyError,
  InvalidBucketNameError,
  LocalArtifactStore,
  S3ArtifactStore,
  assertValidPrefix,
  bucketNameProblem,
  keyProblem,
  sha256Hex,
} from "../src/index.js";

describe("keyProblem", () => {
  it.each(["a", "models/mlp/weights.bin", "runs/seed=3/mask-0.5.bin", "A_b.C-d", ".hidden/x", "a..b", "x/..y"])("accepts %j", (key) => {
    expect(keyProblem(key)).toBeUndefined();
  });

  it.each([
    ["", "empty"],
    ["/abs", "starts with '/'"],
    ["a//b", "empty segment"],
    ["a/", "empty segment"],
    [".", "'.' segment"],
    ["a/./b", "'.' segment"],
    ["../x", "'..' segment"],
    ["a\\b", "may only contain"],
    ["a\nb", "may only contain"],
    ["a\u0000b", "may only contain"],
    ["a b", "may only contain"],
    ["~tmp", "may only contain"],
    ["x".repeat(201), "longer than 200"],
    [Array(6).fill("x".repeat(200)).join("/"), "longer than 1024"],
  ])("rejects %j (%s)", (key, reason) => {
    expect(keyProblem(key)).toContain(reason);
  });
});

describe("assertValidPrefix", () => {
  it("accepts beginnings of keys and rejects the rest", () => {
    for (const prefix of ["", "runs", "runs/", "runs/a/w"]) expect(() => assertValidPrefix("b", prefix)).not.toThrow();
    for (const prefix of ["/runs", "a\\", "~uploads/", "a\n"]) {
      expect(() => assertValidPrefix("b", prefix)).toThrow(InvalidArtifactKeyError);
    }
  });
});

describe("bucketNameProblem", () => {
  it.each(["gap-lab", "abc", "a.b.c", "gap-test-1", "x".repeat(63)])("accepts %j", (bucket) => {
    expect(bucketNameProblem(bucket)).toBeUndefined();
  });

  it.each(["ab", "x".repeat(64), "Gap-Lab", "gap_lab", "-gap", "gap-", "a..b", "a.-b", "192.168.0.1", "xn--gap", "gap-s3alias", "gap lab"])(
    "rejects %j",
    (bucket) => {
      expect(bucketNameProblem(bucket)).toBeTypeOf("string");
    },
  );

  it("is enforced when a store is constructed", () => {
    expect(() => new LocalArtifactStore({ rootDir: "/tmp/unused", bucket: "Bad_Bucket" })).toThrow(InvalidBucketNameError);
    const s3 = { endPoint: "127.0.0.1", port: 9, useSSL: false, accessKey: "k", secretKey: "s" };
    expect(() => new S3ArtifactStore({ ...s3, bucket: "Bad_Bucket" })).toThrow(InvalidBucketNameError);
    expect(() => new S3ArtifactStore({ ...s3, bucket: "gap-lab", partSizeBytes: 1024 })).toThrow(RangeError);
  });
});

describe("sha256Hex", () => {
  it("matches the published digests of 'abc' and of nothing", () => {
    expect(sha256Hex(new TextEncoder().encode("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex(new Uint8Array(0))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});
