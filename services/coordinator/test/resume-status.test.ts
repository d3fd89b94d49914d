// A coordinator killed while writing an experiment's status can leave it torn; the next
// coordinator must still come up and resume that experiment from its spec.
import { mkdtempSync, readdirSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { create, toJson } from "@bufbuild/protobuf";
import { ExperimentSpecSchema, RunState } from "@gap/proto";
import { createArtifactStore } from "@gap/artifacts";
import { createLogger } from "@gap/service-kit";
import { Coordinator, experimentId, PRESETS, STORE_LAYOUT, validateSpec } from "../src/index.js";
import type { StepCaller } from "../src/clients.js";

const dir = mkdtempSync(join(tmpdir(), "gap-resume-status-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("resumes an experiment whose stored status is torn, and leaves a finished one alone", async () => {
  const store = createArtifactStore({ GAP_STORE_DIR: dir });
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const experiment = async (name: string, state: RunState) => {
    const spec = validateSpec(create(ExperimentSpecSchema, { ...PRESETS.quick!, name, baseWeights: [] }));
    const id = experimentId(spec);
    await store.put(`${STORE_LAYOUT.experiment(id)}/spec.json`, json(toJson(ExperimentSpecSchema, spec)));
    await store.put(`${STORE_LAYOUT.experiment(id)}/status.json`, json({ name, state, stepsDone: 0, stepsTotal: 1, error: "" }));
    return id;
  };
  const torn = await experiment("torn", RunState.RUNNING);
  await experiment("finished", RunState.SUCCEEDED);
  // Cut the torn experiment's status short on disk: its sha256 no longer matches, as after a cut-off PUT.
  const statusDir = join(dir, "gap-lab", STORE_LAYOUT.experiment(torn));
  truncateSync(join(statusDir, readdirSync(statusDir).find((f) => f.startsWith("status.json~") && f.endsWith(".data"))!), 0);
  await expect(store.get(`${STORE_LAYOUT.experiment(torn)}/status.json`)).rejects.toMatchObject({ name: "ArtifactIntegrityError" });

  // Calls wait until cancelled: the resumed experiment stays running while the test looks at it.
  const call: StepCaller = (_kind, _request, { signal }) =>
    new Promise((_, reject) => {
      if (signal?.aborted) reject(new Error("cancelled"));
      signal?.addEventListener("abort", () => reject(new Error("cancelled")));
    });
  const coordinator = new Coordinator({
    store,
    call,
    checkWeights: () => Promise.reject(new Error("no base weights in these specs")),
    log: createLogger({}, "error"),
    concurrency: 1,
  });
  expect(await coordinator.resumeRunning()).toEqual([torn]);
  const resumed = coordinator.get(torn);
  expect(resumed.state).toBe(RunState.RUNNING);
  resumed.cancel();
  await resumed.start();
  expect(resumed.state).toBe(RunState.CANCELLED);
});
