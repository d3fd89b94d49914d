import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GapClient } from "@gap/client";
import { create, toJsonString } from "@bufbuild/protobuf";
import sharp from "sharp";
import { Architecture, DatasetName, ExperimentSpecSchema, RunState, Split, TrainingService, type ExperimentEvent } from "@gap/proto";
import { createClient, status } from "@gap/service-kit";
import { createArtifactStore } from "@gap/artifacts";
import { liveCluster } from "../support/live-cluster.js";
import { tinySpec } from "../support/tiny-spec.js";

const REPO_ROOT = join(import.meta.dirname, "../..");
const live = liveCluster("e2e", { GAP_CONCURRENCY: "2" });

const states = (events: ExperimentEvent[], state: RunState) => new Set(events.filter((e) => e.stepId && e.state === state).map((e) => e.stepId));

describe("a whole experiment over gRPC, real processes and a real S3 server", () => {
  it("runs every step and fills the result table", async () => {
    const client = new GapClient(live.cluster.coordinatorAddress);
    const { experimentId, totalSteps } = await client.start(tinySpec("e2e"));
    const events: ExperimentEvent[] = [];
    const state = await client.wait(experimentId, (e) => events.push(e));
    const failures = events.filter((e) => e.state === RunState.FAILED).map((e) => `${e.stepId}: ${e.message}`);
    expect(failures).toEqual([]);
    expect(state).toBe(RunState.SUCCEEDED);
    expect(states(events, RunState.SUCCEEDED).size).toBe(totalSteps);

    const { rows, results } = await client.results(experimentId);
    // Unpruned + 3 strategies, each float and int8.
    expect(rows).toHaveLength(8);
    for (const row of rows) {
      expect(row.clean?.total).toBe(48n);
      expect(row.adversarial?.total).toBe(32n);
      expect(row.transfer?.total).toBe(32n);
      expect(row.heldOutTransfer?.total).toBe(16n);
      expect(row.clean!.accuracy).toBe(Number(row.clean!.correct) / 48);
      expect(row.sizeBytes).toBeGreaterThan(0n);
    }
    const pruned = rows.filter((r) => r.compressionRatio === 2 && !r.quantized);
    const base = rows.find((r) => r.compressionRatio === 1 && !r.quantized)!;
    for (const row of pruned) expect(Number(base.nonzeroParameters) / Number(row.nonzeroParameters)).toBeCloseTo(2, 3);
    expect(results?.key).toBe(`experiments/${experimentId}/results.json`);

    // The report: in the store, its CSV matching the results, one line per strategy in Fig. 2.
    const report = await client.report(experimentId);
    expect(report.state).toBe(RunState.SUCCEEDED);
    expect(report.report?.key).toBe(`experiments/${experimentId}/report/report.html`);
    expect(report.files[0]).toEqual(report.report);
    const store = createArtifactStore(live.s3.env);
    const text = async (name: string) => new TextDecoder().decode(await store.get(report.files.find((f) => f.key.endsWith(`/${name}`))!));
    const html = await text("report.html");
    expect(html.match(/<svg /g)?.length).toBeGreaterThanOrEqual(4); // Fig. 2, held-out transfer, Fig. 1, overlap
    expect(html).toContain("wasm"); // the backend the jobs ran on
    const [header, ...lines] = (await text("results.csv")).trim().split("\r\n").map((l) => l.split(","));
    expect(lines).toHaveLength(rows.length);
    const col = (name: string) => header!.indexOf(name);
    for (const row of rows) {
      const strategy = row.strategy?.strategy ? ["", "random", "magnitude", "gradient", "gap"][row.strategy.strategy] : "unpruned";
      const line = lines.find((l) => l[col("strategy")] === strategy && l[col("quantized")] === String(row.quantized))!;
      expect(Number(line[col("clean_correct")])).toBe(Number(row.clean!.correct));
      expect(Number(line[col("adversarial_correct")])).toBe(Number(row.adversarial!.correct));
      expect(Number(line[col("transfer_correct")])).toBe(Number(row.transfer!.correct));
      expect(Number(line[col("held_out_transfer_correct")])).toBe(Number(row.heldOutTransfer!.correct));
      expect(Number(line[col("nonzero_parameters")])).toBe(Number(row.nonzeroParameters));
    }
    const fig2 = await text("fig2-resnet20.svg");
    const series = [...fig2.matchAll(/aria-label="[^"]*strategy: ([^;"]*)[^"]*" role="graphics-symbol" aria-roledescription="line mark"/g)].map((m) => m[1]);
    expect([...new Set(series)].sort()).toEqual(["gap (global)", "gradient (layer)", "magnitude (global)"]);
    expect(series).toHaveLength(3 * 3 * 2); // panels × strategies × {float32, int8}
    await expect(client.report("no-such-experiment")).rejects.toMatchObject({ code: 5 }); // NOT_FOUND

    // Starting the same spec again finds every step stored.
    const again = await client.start(tinySpec("e2e"));
    expect(again.experimentId).toBe(experimentId);
    const second: ExperimentEvent[] = [];
    expect(await client.wait(experimentId, (e) => second.push(e))).toBe(RunState.SUCCEEDED);
    const cached = states(second, RunState.CACHED);
    expect([...states(events, RunState.SUCCEEDED)].filter((step) => !cached.has(step))).toEqual([]);

    // The experiment CLI against this coordinator, as the Kubernetes Job runs it: the spec from a file.
    const work = mkdtempSync(join(tmpdir(), "gap-e2e-cli-"));
    writeFileSync(join(work, "spec.json"), toJsonString(ExperimentSpecSchema, create(ExperimentSpecSchema, tinySpec("e2e"))));
    // Not spawnSync: the S3 server lives in this process and must keep answering.
    const cli = await promisify(execFile)(process.execPath, ["--import", "tsx", "services/coordinator/src/cli.ts", "run"], {
      cwd: join(import.meta.dirname, "../.."),
      env: { PATH: process.env.PATH, GAP_COORDINATOR_ADDRESS: live.cluster.coordinatorAddress, GAP_SPEC: join(work, "spec.json"), GAP_WORK_DIR: work },
      encoding: "utf8",
      timeout: 120_000,
    }); // rejects on a non-zero exit
    expect(cli.stdout).toContain(`experiment ${experimentId}: ${totalSteps} steps`);
    expect(cli.stdout).toContain("experiment succeeded");
    expect(cli.stdout).toContain(`report: gap-test/experiments/${experimentId}/report/report.html in the store`);
    client.close();
  });

  it("the gap CLI: every command's --help, one-line errors, list, watch, results, report, cancel, import, and training on imported images", async () => {
    const exec = promisify(execFile);
    const work = mkdtempSync(join(tmpdir(), "gap-e2e-gap-"));
    const env = { PATH: process.env.PATH!, ...live.s3.env, GAP_COORDINATOR_ADDRESS: live.cluster.coordinatorAddress, GAP_WORK_DIR: work };
    const gap = (...args: string[]) =>
      exec(process.execPath, ["services/coordinator/bin/gap.mjs", ...args], { cwd: REPO_ROOT, env, encoding: "utf8", timeout: 120_000 }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    for (const command of ["run", "list", "watch", "results", "report", "cancel", "import"]) {
      const help = await gap(command, "--help");
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain(`gap ${command}`);
    }
    for (const bad of [["frobnicate"], ["results"], ["run", "--bogus"], ["run", "no-such-spec.yaml"], ["import", "weights", "missing.safetensors"]]) {
      const result = await gap(...bad);
      expect(result.code, bad.join(" ")).toBe(2);
      expect(result.stderr.trim().split("\n"), bad.join(" ")).toHaveLength(1); // one line, no stack trace
    }
    const experimentId = (await gap("list")).stdout.split(/\s+/)[0]!;
    expect((await gap("list")).stdout).toContain(`${experimentId}  succeeded`);
    expect((await gap("watch", experimentId)).stdout).toContain("experiment succeeded: done");
    const table = await gap("results", experimentId);
    expect(table.stdout).toContain("magnitude (global)");
    expect(JSON.parse((await gap("results", experimentId, "--json")).stdout)).toHaveLength(8);
    const report = await gap("report", experimentId, "--out", join(work, "report"));
    expect(report.stdout).toMatch(/^\d+ files in .*report \(the page: .*report\.html\)/);
    expect((await gap("cancel", experimentId)).stdout).toContain(`${experimentId}: succeeded`); // a finished experiment stays as it ended

    // Imported images, one folder per class, as a data set the services train and evaluate on.
    const images = join(work, "images");
    for (const [label, colour] of [["red", "#d00"], ["blue", "#00d"]] as const) {
      mkdirSync(join(images, label), { recursive: true });
      for (let i = 0; i < 6; i++) await sharp({ create: { width: 32, height: 32, channels: 3, background: colour } }).png().toFile(join(images, label, `${i}.png`));
    }
    const imported = await gap("import", "data", images, "--split", "train");
    expect(imported.stderr).toContain("12 images of 32x32x3 in 2 classes (blue, red)");
    const artifact = JSON.parse(imported.stdout) as { key: string; sha256: string };
    const training = createClient(TrainingService, live.cluster.addresses.training![0]!);
    const dataset = { name: DatasetName.STORED, split: Split.TRAIN, artifact: { key: artifact.key, sha256: artifact.sha256 } };
    const model = { architecture: Architecture.RESNET20, numClasses: 2, inputShape: { height: 32, width: 32, channels: 3 } };
    let trained;
    for await (const m of training.train({ model, trainData: dataset, config: { ...tinySpec("x").training, epochs: 2, batchSize: 6 }, fromScratch: true })) {
      if (m.event.case === "result") trained = m.event.value;
    }
    expect(trained?.history.map((e) => e.epoch)).toEqual([1, 2]); // the training curve
    const wrongSplit = training.train({ model, trainData: { ...dataset, split: Split.TEST }, config: tinySpec("x").training, fromScratch: true });
    await expect((async () => { for await (const _ of wrongSplit); })()).rejects.toMatchObject({ details: expect.stringContaining("the object holds the train split, not test") });
    const moreClasses = training.train({ model, trainData: { name: DatasetName.CIFAR10_SAMPLE, split: Split.TRAIN, subsetSize: 20 }, config: tinySpec("x").training, fromScratch: true });
    await expect((async () => { for await (const _ of moreClasses); })()).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: "train_data: the data has 10 classes, the model 2" });
    training.close();
  });
});
