import { PruningScope, PruningStrategy, type Accuracy, type ResultRow } from "@gap/proto";
import { ARCHITECTURE_NAMES, SCOPE_NAMES, STRATEGY_NAMES } from "@gap/compute/no-tf";

/** What a cell not computed (yet) shows, in every table and file: never 0. */
export const NOT_COMPUTED = "–";
const percent = (a: Accuracy | undefined) => (a && a.total > 0n ? `${(a.accuracy * 100).toFixed(1)}%` : NOT_COMPUTED);
const count = (n: bigint | undefined) => (n === undefined ? NOT_COMPUTED : String(n));

export function strategyName(row: ResultRow): string {
  const s = row.strategy;
  if (!s || s.strategy === PruningStrategy.UNSPECIFIED) return "unpruned";
  return `${STRATEGY_NAMES[s.strategy]} (${SCOPE_NAMES[s.scope ?? PruningScope.UNSPECIFIED]})`;
}

export const TABLE_COLUMNS = ["model", "strategy", "ratio", "trial", "int8", "clean", "adversarial", "transfer", "held-out transfer", "nonzero", "size (bytes)"];

export function tableCells(row: ResultRow): string[] {
  return [
    ARCHITECTURE_NAMES[row.architecture] ?? "?",
    strategyName(row),
    String(row.compressionRatio),
    String(row.trial),
    row.quantized ? "yes" : "no",
    percent(row.clean),
    percent(row.adversarial),
    percent(row.transfer),
    percent(row.heldOutTransfer),
    count(row.nonzeroParameters),
    count(row.sizeBytes),
  ];
}

/** Rows in reading order: model, trial, ratio, strategy, float before int8. */
export function sortRows(rows: readonly ResultRow[]): ResultRow[] {
  return [...rows].sort(
    (a, b) =>
      a.architecture - b.architecture ||
      a.trial - b.trial ||
      a.compressionRatio - b.compressionRatio ||
      (a.strategy?.strategy ?? 0) - (b.strategy?.strategy ?? 0) ||
      (a.strategy?.scope ?? 0) - (b.strategy?.scope ?? 0) ||
      Number(a.quantized) - Number(b.quantized),
  );
}

/** A plain-text table with aligned columns. */
export function formatTable(rows: readonly ResultRow[]): string {
  const cells = [TABLE_COLUMNS, ...sortRows(rows).map(tableCells)];
  const widths = TABLE_COLUMNS.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}
