import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("the coordinator without TensorFlow.js", () => {
  it("loads every module of the coordinator service without loading TensorFlow.js", () => {
    // tfjs-core makes its engine (globalThis._tfengine) when first loaded; the control import shows the probe sees it.
    const probe = `
      await import(${JSON.stringify(new URL("../src/index.ts", import.meta.url).href)});
      await import(${JSON.stringify(new URL("../src/clients.ts", import.meta.url).href)});
      const loaded = globalThis._tfengine !== undefined;
      await import("@tensorflow/tfjs-core");
      console.log(JSON.stringify({ loadedByCoordinator: loaded, loadedByControl: globalThis._tfengine !== undefined }));
    `;
    const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", probe], { cwd: new URL("..", import.meta.url).pathname, encoding: "utf8" });
    expect(JSON.parse(output.trim().split("\n").at(-1)!)).toEqual({ loadedByCoordinator: false, loadedByControl: true });
  }, 60_000);
});
