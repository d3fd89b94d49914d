import { appendFile, mkdtemp, readdir, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactIntegrityError, LocalArtifactStore } from "../src/index.js";

describe("LocalArtifactStore specifics", () => {
  let root: string;
  let store: LocalArtifactStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "gap-artifacts-local-specifics-"));
    store = new LocalArtifactStore({ rootDir: root, bucket: "gap-lab" });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("lays a key out as a sidecar and one data file under <root>/<bucket>/<folders>", async () => {
    const ref = await store.put("runs/r1/weights.bin", new Uint8Array([1, 2]));
    const files = (await readdir(join(root, "gap-lab", "runs", "r1"))).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^weights\.bin~[0-9a-f-]{36}\.data$/);
    expect(files[1]).toBe("weights.bin~meta.json");
    expect((await store.stat("runs/r1/weights.bin"))?.sha256).toBe(ref.sha256);
  });

  it("ignores a data file whose put never committed its sidecar", async () => {
    await store.put("crash/other.bin", new Uint8Array([1]));
    await writeFile(join(root, "gap-lab", "crash", "lost.bin~00000000-0000-0000-0000-000000000000.data"), "half");
    expect(await store.list("crash/")).toEqual(["crash/other.bin"]);
    expect(await store.exists("crash/lost.bin")).toBe(false);
  });

  it("reports a malformed sidecar or a missing data file as an integrity failure", async () => {
    await store.put("bad/sidecar.bin", new Uint8Array([1]));
    await writeFile(join(root, "gap-lab", "bad", "sidecar.bin~meta.json"), "{ not json");
    await expect(store.get("bad/sidecar.bin")).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(store.stat("bad/sidecar.bin")).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await store.put("bad/sidecar.bin", new Uint8Array([2]));
    expect(Array.from(await store.get("bad/sidecar.bin"))).toEqual([2]);

    await store.put("bad/data.bin", new Uint8Array([1]));
    const dataFile = (await readdir(join(root, "gap-lab", "bad"))).find((name) => name.startsWith("data.bin~") && name.endsWith(".data"))!;
    await rm(join(root, "gap-lab", "bad", dataFile));
    await expect(store.get("bad/data.bin")).rejects.toThrow("data file that does not exist");
  });

  it("refuses a data file that grew or shrank since its put, on get and on getStream", async () => {
    const bytes = new Uint8Array(70_000).map((_, i) => i % 251);
    const putAndFindDataFile = async (key: string) => {
      await store.put(key, bytes);
      const name = key.split("/").pop()!;
      return join(root, "gap-lab", "size", (await readdir(join(root, "gap-lab", "size"))).find((f) => f.startsWith(name + "~") && f.endsWith(".data"))!);
    };
    await appendFile(await putAndFindDataFile("size/grew.bin"), new Uint8Array([0]));
    await truncate(await putAndFindDataFile("size/shrank.bin"), bytes.length - 1);
    for (const key of ["size/grew.bin", "size/shrank.bin"]) {
      await expect(store.get(key)).rejects.toThrow(/read (69999|70001) bytes, expected 70000/);
      const chunks: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of await store.getStream(key)) chunks.push(chunk as Buffer);
      })();
      await expect(reading).rejects.toBeInstanceOf(ArtifactIntegrityError);
    }
    expect(Array.from(await store.get(await store.put("size/same.bin", bytes)))).toEqual(Array.from(bytes));
  });
});
