import { create } from "@bufbuild/protobuf";
import { ExperimentSpecSchema, PruneResultSchema, QuantizeResultSchema } from "@gap/proto";
import { describe, expect, it } from "vitest";
import { buildGraph, formatTable, PRESETS, resultRows, validateSpec, type StepOutput } from "../src/index.js";
import { toOutput } from "../src/step-kinds.js";

const RESNET20_PARAMETERS = 269_722n;
/** ResNet20 as int8: 1 byte per weight, plus scales, folded biases and activation ranges. */
const INT8_DENSE = 274_160n;

describe("result table sizes", () => {
  const spec = validateSpec(create(ExperimentSpecSchema, { ...PRESETS.quick!, compressionRatios: [2] }));
  const steps = buildGraph(spec);
  /** Every prune and quantize step finished; pruning at ratio 2 keeps half the parameters. */
  const outputs = (keptSize: (id: string) => bigint) => {
    const map = new Map<string, StepOutput>();
    const nonzero = RESNET20_PARAMETERS / 2n;
    for (const step of steps) {
      if (step.kind === "prune") map.set(step.id, toOutput("prune", create(PruneResultSchema, { totalParameters: RESNET20_PARAMETERS, nonzeroParameters: nonzero, sizeBytes: 4n * nonzero })));
      if (step.kind === "quantize") {
        const result = { sizeBytesAfter: INT8_DENSE, sparseSizeBytesAfter: INT8_DENSE - 1n, keptSizeBytesAfter: keptSize(step.id) };
        map.set(step.id, toOutput("quantize", create(QuantizeResultSchema, result)));
      }
    }
    return map;
  };

  it("int8 rows show the kept-weights size the quantization service reports, not the dense int8 size", () => {
    const pruned = RESNET20_PARAMETERS - RESNET20_PARAMETERS / 2n;
    const rows = resultRows(steps, outputs((id) => (id.includes("/p2/") ? INT8_DENSE - pruned : INT8_DENSE)));
    const base = rows.filter((r) => r.compressionRatio === 1);
    expect(base.find((r) => !r.quantized)!.sizeBytes).toBe(4n * RESNET20_PARAMETERS);
    expect(base.map((r) => r.nonzeroParameters)).toEqual([RESNET20_PARAMETERS, RESNET20_PARAMETERS]);
    expect(base.find((r) => r.quantized)!.sizeBytes).toBe(INT8_DENSE);
    const prunedRows = rows.filter((r) => r.compressionRatio === 2);
    expect(prunedRows).toHaveLength(2 * 7);
    for (const row of prunedRows) {
      expect(row.nonzeroParameters).toBe(RESNET20_PARAMETERS / 2n);
      expect(row.sizeBytes).toBe(row.quantized ? INT8_DENSE - pruned : 2n * RESNET20_PARAMETERS);
    }
    expect(formatTable(rows)).toContain(String(INT8_DENSE - pruned));
  });

  it("a quantize result stored before kept_size_bytes_after existed leaves the int8 size absent (–), never the dense size", () => {
    const rows = resultRows(steps, outputs(() => 0n));
    for (const row of rows.filter((r) => r.quantized)) expect(row.sizeBytes).toBeUndefined();
    expect(formatTable(rows).split("\n").filter((line) => / yes /.test(line)).every((line) => line.endsWith("–"))).toBe(true);
  });

  it("the unpruned rows' parameter count is absent until a prune step has counted it, never 0", () => {
    const rows = resultRows(steps, new Map());
    for (const row of rows.filter((r) => r.compressionRatio === 1)) {
      expect(row.nonzeroParameters).toBeUndefined();
      expect(row.sizeBytes).toBeUndefined();
    }
  });
});
