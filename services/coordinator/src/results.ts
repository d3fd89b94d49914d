import { create } from "@bufbuild/protobuf";
import { ResultRowSchema, type Architecture, type ResultRow, type StrategyScope } from "@gap/proto";
import type { RowKey, Step } from "./graph.js";
import type { StepOutput } from "./step-kinds.js";

const rowId = (key: RowKey) =>
  [key.architecture, key.strategy?.strategy ?? 0, key.strategy?.scope ?? 0, key.compressionRatio, key.trial, key.quantized].join("/");

const accuracy = (output: StepOutput) => ({
  correct: BigInt(output.correct ?? 0),
  total: BigInt(output.total ?? 0),
  accuracy: output.total ? output.correct! / output.total : 0,
});

/**
 * The result table: one row per architecture, strategy, ratio, trial and
 * quantized flag, filled from the outputs of the steps finished so far.
 * The unpruned model is the row with no strategy and ratio 1.
 */
export function resultRows(steps: readonly Step[], outputs: ReadonlyMap<string, StepOutput>): ResultRow[] {
  const rows = new Map<string, ResultRow>();
  // Every parameter of each architecture's unpruned model, as its prune steps counted them.
  const totals = new Map<Architecture, number>();
  const rowFor = (key: RowKey) => {
    let row = rows.get(rowId(key));
    if (!row) {
      row = create(ResultRowSchema, { ...key, strategy: key.strategy as StrategyScope | undefined });
      rows.set(rowId(key), row);
    }
    return row;
  };
  for (const step of steps) {
    for (const { row: key } of step.fills) rowFor(key); // every row exists, even before its numbers
    const output = outputs.get(step.id);
    if (!output) continue;
    for (const { row: key, metric } of step.fills) {
      const row = rowFor(key);
      switch (metric) {
        case "clean":
          row.clean = create(ResultRowSchema.field.clean.message!, accuracy(output)) as ResultRow["clean"];
          break;
        case "adversarial":
          row.adversarial = create(ResultRowSchema.field.adversarial.message!, accuracy(output)) as ResultRow["adversarial"];
          break;
        case "transfer":
          row.transfer = create(ResultRowSchema.field.transfer.message!, accuracy(output)) as ResultRow["transfer"];
          row.transferBothCorrect = BigInt(output.bothCorrect ?? 0);
          break;
        case "held_out_transfer":
          row.heldOutTransfer = create(ResultRowSchema.field.heldOutTransfer.message!, accuracy(output)) as ResultRow["heldOutTransfer"];
          break;
        case "size":
          if (output.totalParameters) totals.set(key.architecture, output.totalParameters);
          if (output.nonzeroParameters !== undefined) row.nonzeroParameters = BigInt(output.nonzeroParameters);
          if (output.sizeBytes !== undefined) row.sizeBytes = BigInt(output.sizeBytes);
          break;
      }
    }
  }
  // Unpruned rows count every parameter (once a prune step has counted them); a quantized row
  // keeps its float model's nonzero count. Anything not measured stays absent, never 0.
  for (const row of rows.values()) {
    const total = totals.get(row.architecture);
    if (row.compressionRatio === 1 && total !== undefined) {
      row.nonzeroParameters = BigInt(total);
      if (!row.quantized) row.sizeBytes = row.nonzeroParameters * 4n;
    } else if (row.quantized && row.compressionRatio !== 1) {
      const float = rows.get(rowId({ ...row, strategy: row.strategy, quantized: false }));
      if (float) row.nonzeroParameters = float.nonzeroParameters;
    }
  }
  return [...rows.values()];
}
