import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { GapClient } from "@gap/client";
import { liveCluster } from "../support/live-cluster.js";

const REPO_ROOT = resolve(import.meta.dirname, "../..");
/** Debian's python3, which has python3-grpcio (the default python3 on PATH may be another one). */
const PYTHON = process.env.GAP_PYTHON || "/usr/bin/python3";
const probe = spawnSync(PYTHON, ["-c", "import grpc, google.protobuf"], { encoding: "utf8" });
const missing = probe.error || probe.status !== 0 ? `${PYTHON} cannot import grpc (apt-get install python3-grpcio): ${probe.error?.message ?? probe.stderr.trim()}` : undefined;
if (missing) console.warn(`python client: ${missing}`);

// CI installs python3-grpcio (.ci/run): there a missing Python client is a failure, never a skip.
describe.runIf(Boolean(process.env.CI && missing))("the Python client in CI", () => {
  it("has Debian's python3 with grpcio", () => {
    throw new Error(missing);
  });
});

/** Runs a Python script (no bytecode files written); rejects on a non-zero exit. */
const run = (args: string[], env: Record<string, string> = {}, cwd = REPO_ROOT) =>
  // Not spawnSync: the S3 server lives in this process and must keep answering.
  promisify(execFile)(PYTHON, ["-B", ...args], { cwd, env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 600_000 });

describe.skipIf(missing)(`the Python client against real services${missing ? ` (skipped: ${missing})` : ""}`, () => {
  const live = liveCluster("python", { GAP_CONCURRENCY: "2" });

  it("example.py's own unit tests pass (the S3 signature against AWS's documented example, the table)", async () => {
    const { stderr } = await run(["-m", "unittest", "-v", "test_example"], {}, join(REPO_ROOT, "clients/python"));
    expect(stderr).toMatch(/^OK$/m);
  });

  let experimentId = "";
  let totalSteps = 0;

  it("example.py starts an experiment, watches it, prints the table and downloads the report", async () => {
    const out = mkdtempSync(join(tmpdir(), "gap-python-report-"));
    const { stdout } = await run(["clients/python/example.py", live.cluster.coordinatorAddress, "--out", out], live.s3.env); // rejects on a non-zero exit
    const started = /^experiment (\S+): (\d+) steps$/m.exec(stdout);
    expect(started, stdout).not.toBeNull();
    [experimentId, totalSteps] = [started![1]!, Number(started![2])];
    // Unpruned base: 8 steps (train, 2 attacks, evaluate, quantize, 3 int8 evaluations); 2 strategies x 1 ratio x 12.
    expect(totalSteps).toBe(8 + 2 * 12);
    // Events name the steps as the contract documents them.
    for (const step of ["resnet20/t0/train", "resnet20/t0/quantized/evaluate", "resnet20/t0/gap-global/p2/prune", "resnet20/t0/magnitude-global/p2/finetune"]) {
      expect(stdout).toMatch(new RegExp(`^\\[\\d+/${totalSteps}\\] ${step} succeeded$`, "m"));
    }
    expect(stdout).toContain(`[${totalSteps}/${totalSteps}] experiment succeeded: done`);
    expect(stdout).toMatch(/^model +strategy +ratio +trial +int8 +clean +adversarial +transfer +held-out transfer +nonzero +size \(bytes\)$/m);

    // The printed rows are the coordinator's.
    const client = new GapClient(live.cluster.coordinatorAddress);
    const { rows } = await client.results(experimentId);
    const report = await client.report(experimentId);
    client.close();
    expect(rows).toHaveLength(6); // unpruned and 2 strategies, each fp32 and int8
    for (const row of rows) {
      const strategy = row.strategy?.strategy ? ["", "random", "magnitude", "gradient", "gap"][row.strategy.strategy] + " (global)" : "unpruned";
      const line = new RegExp(`^resnet20 +${strategy.replace(/[()]/g, "\\$&")} +${row.compressionRatio} +0 +${row.quantized ? "yes" : "no"} .* ${row.nonzeroParameters} +${row.sizeBytes}$`, "m");
      expect(stdout).toMatch(line);
    }

    // The report files, downloaded over S3 with their sha256 checked, are the store's.
    expect(stdout).toContain(`report: ${join(out, "report.html")} (${report.files.length} files downloaded, sha256 checked)`);
    for (const ref of report.files) {
      const bytes = readFileSync(join(out, ref.key.split("/").pop()!));
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(ref.sha256);
    }
    expect(readFileSync(join(out, "results.csv"), "utf8").trim().split("\r\n")).toHaveLength(1 + rows.length);
  });

  it("int8 sizes count the pruned weights as absent, as the fp32 sizes do", async () => {
    const client = new GapClient(live.cluster.coordinatorAddress);
    const { rows } = await client.results(experimentId);
    client.close();
    const base = (quantized: boolean) => rows.find((r) => r.compressionRatio === 1 && r.quantized === quantized)!;
    const total = base(false).nonzeroParameters!;
    expect(base(false).sizeBytes).toBe(4n * total);
    for (const row of rows.filter((r) => r.compressionRatio === 2)) {
      const pruned = total - row.nonzeroParameters!;
      expect(Number(total) / Number(row.nonzeroParameters)).toBeCloseTo(2, 3);
      // fp32: 4 bytes per nonzero parameter; int8: the unpruned int8 size less 1 byte per pruned weight.
      expect(row.sizeBytes).toBe(row.quantized ? base(true).sizeBytes! - pruned : 4n * row.nonzeroParameters!);
    }
    expect(rows.filter((r) => r.quantized && r.compressionRatio === 2).every((r) => r.sizeBytes! < base(true).sizeBytes!)).toBe(true);
  });

  it("from Python, every missing required field is INVALID_ARGUMENT naming it, and defaults sent or left out are the same experiment", async () => {
    expect(experimentId).not.toBe("");
    const { stdout } = await run(["test/support/contract_probe.py", live.cluster.coordinatorAddress]);
    const { cases, explicit_defaults } = JSON.parse(stdout) as {
      cases: Record<string, { code: string; details: string }>;
      explicit_defaults: { experiment_id: string; total_steps: number; final_state: string };
    };
    const required = ["name", "architectures", "strategies", "compression_ratios", "trials", "train_data", "test_data", "training", "fine_tuning", "attack", "quantization", "variant", "num_classes", "input_shape"];
    for (const field of required) {
      expect(cases[field], field).toMatchObject({ code: "INVALID_ARGUMENT", details: expect.stringMatching(new RegExp(`^spec\\.${field}: is required`)) });
    }
    expect(cases["training.momentum"]).toEqual({ code: "INVALID_ARGUMENT", details: "spec.training.momentum: must be > 0 when nesterov is set" });
    expect(cases["fine_tuning.epochs"]?.details).toMatch(/^spec\.fine_tuning\.epochs: is required/);
    expect(cases["attack.eps"]?.details).toMatch(/^spec\.attack\.eps: is required/);
    expect(cases["attack.batch_size=5000"]?.details).toBe("spec.attack.batch_size: must be an integer in [1, 4096], got 5000");
    expect(cases["eval_batch_size=5000"]?.details).toBe("spec.eval_batch_size: must be an integer in [1, 4096], got 5000");
    expect(cases["input_shape.channels=2"]?.details).toBe("spec.input_shape.channels: must be 1 or 3, got 2");
    // attack.batch_size, eval_batch_size and quantization.bits sent as their defaults: the example's experiment, every step found stored.
    expect(explicit_defaults).toEqual({ experiment_id: experimentId, total_steps: totalSteps, final_state: "RUN_STATE_SUCCEEDED" });
  });
});
