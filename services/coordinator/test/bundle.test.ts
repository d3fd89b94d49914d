import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundleServices } from "../src/local-cluster.js";

const REPO_ROOT = resolve(import.meta.dirname, "../../..");

describe("bundleServices: what a local run starts", () => {
  const cache = join(REPO_ROOT, "node_modules/.cache");
  mkdirSync(cache, { recursive: true });
  const outDir = mkdtempSync(join(cache, "gap-bundle-test-"));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it("inlines the project's packages, leaves npm's to node, and keeps each source's own location", async () => {
    const bundles = await bundleServices(["coordinator"], outDir);
    const code = readFileSync(bundles.get("coordinator")!, "utf8");
    // spec.ts finds the repository from its own directory; in the bundle that is a literal.
    expect(code).toContain(JSON.stringify(join(REPO_ROOT, "services/coordinator/src")));
    expect(code).not.toMatch(/import\.meta\.(url|dirname)/);
    expect(code).toMatch(/from "@grpc\/grpc-js"/);
    expect(code).not.toMatch(/from "@gap\//);
    expect(readFileSync(`${bundles.get("coordinator")!}.map`, "utf8")).toContain("services/coordinator/src/main.ts");
  });
});
