import { accuracyOf, METRIC_TITLES, METRICS, seriesName, sortRows, summarize, type MeanStd, type ReportRow, type SummaryRow } from "./rows.js";

const snake = (metric: string) => metric.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export const RECORD_COLUMNS = [
  "model",
  "strategy",
  "scope",
  "ratio",
  "trial",
  "quantized",
  ...METRICS.flatMap((m) => ["correct", "total", "accuracy", "mean", "std"].map((part) => `${snake(m)}_${part}`)),
  "trials",
  "nonzero_parameters",
  "size_bytes",
] as const;
export type ResultRecord = Record<(typeof RECORD_COLUMNS)[number], string | number | boolean | null>;

/**
 * One record per model, strategy, ratio, trial and quantized flag, with the
 * exact counts of that trial and the mean and standard deviation of its grid
 * cell over all trials. The CSV and the JSON file hold exactly these records.
 */
export function resultRecords(rows: readonly ReportRow[], summaries: readonly SummaryRow[] = summarize(rows)): ResultRecord[] {
  const key = (r: { model: string; ratio: number; quantized: boolean }, series: string) => JSON.stringify([r.model, series, r.ratio, r.quantized]);
  const cells = new Map(summaries.map((s) => [key(s, s.series), s]));
  return sortRows(rows).map((row) => {
    const cell = cells.get(key(row, seriesName(row)))!;
    const record: Record<string, string | number | boolean | null> = {
      model: row.model,
      strategy: row.strategy,
      scope: row.scope,
      ratio: row.ratio,
      trial: row.trial,
      quantized: row.quantized,
    };
    for (const metric of METRICS) {
      const count = row.accuracy[metric];
      const stats = cell.accuracy[metric];
      record[`${snake(metric)}_correct`] = count?.correct ?? null;
      record[`${snake(metric)}_total`] = count?.total ?? null;
      record[`${snake(metric)}_accuracy`] = accuracyOf(count) ?? null;
      record[`${snake(metric)}_mean`] = stats?.mean ?? null;
      record[`${snake(metric)}_std`] = stats?.std ?? null;
    }
    record.trials = cell.trials;
    record.nonzero_parameters = row.nonzeroParameters ?? null;
    record.size_bytes = row.sizeBytes ?? null;
    return record as ResultRecord;
  });
}

const csvCell = (value: string | number | boolean | null) => {
  if (value === null) return "";
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** RFC 4180 CSV with a header line; absent values are empty cells. */
export function toCsv(records: readonly ResultRecord[]): string {
  return [RECORD_COLUMNS.join(","), ...records.map((r) => RECORD_COLUMNS.map((c) => csvCell(r[c])).join(","))].join("\r\n") + "\r\n";
}

const percent = (stats: MeanStd | undefined) =>
  stats ? (stats.n > 1 ? `${(stats.mean * 100).toFixed(1)} ± ${(stats.std * 100).toFixed(1)}` : (stats.mean * 100).toFixed(1)) : "–";

export const SUMMARY_COLUMNS = ["model", "strategy", "ratio", "int8", "trials", ...METRICS.map((m) => `${METRIC_TITLES[m]} (%)`), "nonzero parameters", "size (bytes)"];

/** The summary table's cells: one row per grid cell, accuracies as mean ± std in percent. */
export function summaryCells(summaries: readonly SummaryRow[]): string[][] {
  return summaries.map((s) => [
    s.model,
    s.series,
    String(s.ratio),
    s.quantized ? "yes" : "no",
    String(s.trials),
    ...METRICS.map((m) => percent(s.accuracy[m])),
    s.nonzeroParameters ? String(Math.round(s.nonzeroParameters.mean)) : "–",
    s.sizeBytes ? String(Math.round(s.sizeBytes.mean)) : "–",
  ]);
}

/** The summary as a GitHub-flavoured Markdown table. */
export function toMarkdown(summaries: readonly SummaryRow[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  const align = SUMMARY_COLUMNS.map((_, i) => (i < 2 ? "---" : "---:"));
  return [line(SUMMARY_COLUMNS), line(align), ...summaryCells(summaries).map(line)].join("\n") + "\n";
}
