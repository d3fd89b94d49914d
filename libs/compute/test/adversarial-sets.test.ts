// loadAdversarialSet: a set named by sha256 is read once per process and shared by later
// jobs, for as long as the store still holds that sha256 under its key.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ArtifactKind, ArtifactRefSchema } from "@gap/proto";
import { createArtifactStore } from "@gap/artifacts";
import { makeSyntheticDataset } from "@gap/ml-core";
import { encodeAdversarialSet, type AdversarialSet } from "@gap/algorithms";
import { artifactRef, loadAdversarialSet } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "gap-sets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const store = createArtifactStore({ GAP_STORE_DIR: dir });
const shape = { height: 8, width: 8, channels: 3 };

function adversarialSet(seed: number): AdversarialSet {
  const data = makeSyntheticDataset({ count: 20, ...shape, numClasses: 4, seed });
  const parameters = { method: "pgd", eps: 8 / 255, stepSize: 2 / 255, steps: 10, randomStart: true, labelMode: "true", inputSpace: "pixel", seed, batchSize: 10 } as const;
  return { ...data, cleanPredictions: data.labels.slice(), adversarialPredictions: data.labels.map((l) => (l + 1) % 4), parameters };
}
const store_ = async (key: string, seed: number) => create(ArtifactRefSchema, artifactRef(await store.put(key, encodeAdversarialSet(adversarialSet(seed))), ArtifactKind.ADVERSARIAL_SET));
const load = (ref: ReturnType<typeof create<typeof ArtifactRefSchema>>) => loadAdversarialSet(store, ref, "adversarial_set", shape);

describe("loadAdversarialSet", () => {
  it("hands a set named by sha256 to every later request for it, and reads a bare key each time", async () => {
    const ref = await store_("attack/a.safetensors", 1);
    const first = await load(ref);
    expect(await load(ref)).toBe(first);
    expect(Array.from(first.adversarialPredictions)).toEqual(Array.from(adversarialSet(1).adversarialPredictions));
    const bare = create(ArtifactRefSchema, { key: ref.key, kind: ArtifactKind.ADVERSARIAL_SET });
    const read = await load(bare);
    expect(read).not.toBe(first);
    expect(Array.from(read.images)).toEqual(Array.from(first.images));
  });

  it("fails as a read does once the store no longer holds that sha256 (replaced, gone) or another size is asked for", async () => {
    const ref = await store_("attack/b.safetensors", 2);
    await load(ref);
    await expect(load(create(ArtifactRefSchema, { ...ref, sizeBytes: ref.sizeBytes + 1n }))).rejects.toThrow(/requested [0-9]+ bytes/);
    const replaced = await store_("attack/b.safetensors", 3);
    expect(replaced.sha256).not.toBe(ref.sha256);
    await expect(load(ref)).rejects.toThrow(/requested sha256/);
    expect(Array.from((await load(replaced)).images)).toEqual(Array.from(adversarialSet(3).images));
    await store.delete(ref.key);
    await expect(load(replaced)).rejects.toMatchObject({ name: "ArtifactNotFoundError" });
  });
});
