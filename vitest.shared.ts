import { basename } from "node:path";
import { defineConfig } from "vitest/config";

/**
 * Every package's vitest config: forks (tfjs and grpc hold native state),
 * generous timeouts for CPU-bound tensor work, and a JSON report per package
 * that tools/test-summary.mjs adds up into one closing line.
 */
export function packageTestConfig(packageDir: string, overrides: { testTimeout?: number } = {}) {
  return defineConfig({
    test: {
      pool: "forks",
      testTimeout: overrides.testTimeout ?? 120_000,
      hookTimeout: 120_000,
      reporters: ["default", "json"],
      outputFile: { json: `${import.meta.dirname}/.test-results/${basename(packageDir)}.json` },
    },
  });
}
