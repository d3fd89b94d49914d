/** Exact counts behind one accuracy. */
export interface Count {
  correct: number;
  total: number;
}

/** The accuracies of a result row, in the order the paper plots them. */
export const METRICS = ["clean", "adversarial", "transfer", "heldOutTransfer"] as const;
export type Metric = (typeof METRICS)[number];
export const METRIC_TITLES: Record<Metric, string> = {
  clean: "clean accuracy",
  adversarial: "adversarial accuracy",
  transfer: "transfer accuracy",
  heldOutTransfer: "held-out transfer accuracy",
};

/** One trial's results for one model, strategy, ratio and quantized flag. */
export interface ReportRow {
  model: string;
  /** "unpruned" for the base model, else the strategy, such as "gap". */
  strategy: string;
  /** "global" or "layer"; empty for the base model. */
  scope: string;
  /** Compression ratio p; 1 for the base model. */
  ratio: number;
  trial: number;
  quantized: boolean;
  /** A metric not measured (yet) is absent. */
  accuracy: Partial<Record<Metric, Count>>;
  /** Absent until measured. */
  nonzeroParameters?: number;
  sizeBytes?: number;
}

/** The name a strategy has in legends and tables, such as "gap (global)". */
export const seriesName = (row: Pick<ReportRow, "strategy" | "scope">) => (row.scope ? `${row.strategy} (${row.scope})` : row.strategy);

export const accuracyOf = (count: Count | undefined) => (count && count.total > 0 ? count.correct / count.total : undefined);

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

export function meanStd(values: readonly number[]): MeanStd | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}

/** One grid cell over its trials. */
export interface SummaryRow {
  model: string;
  strategy: string;
  scope: string;
  series: string;
  ratio: number;
  quantized: boolean;
  trials: number;
  accuracy: Partial<Record<Metric, MeanStd>>;
  /** Over the trials that measured it; absent when none did. */
  nonzeroParameters?: MeanStd;
  sizeBytes?: MeanStd;
}

const cellKey = (row: ReportRow) => JSON.stringify([row.model, row.strategy, row.scope, row.ratio, row.quantized]);

/** Rows in reading order: model, ratio, strategy, float before int8, trial. */
export function sortRows<T extends Omit<ReportRow, "trial" | "accuracy" | "nonzeroParameters" | "sizeBytes"> & { trial?: number }>(rows: readonly T[]): T[] {
  return [...rows].sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      a.ratio - b.ratio ||
      seriesName(a).localeCompare(seriesName(b)) ||
      Number(a.quantized) - Number(b.quantized) ||
      (a.trial ?? 0) - (b.trial ?? 0),
  );
}

/** Mean and standard deviation over the trials of each grid cell. */
export function summarize(rows: readonly ReportRow[]): SummaryRow[] {
  const cells = new Map<string, ReportRow[]>();
  for (const row of rows) cells.set(cellKey(row), [...(cells.get(cellKey(row)) ?? []), row]);
  const summaries = [...cells.values()].map((trials): SummaryRow => {
    const first = trials[0]!;
    const accuracy: SummaryRow["accuracy"] = {};
    for (const metric of METRICS) {
      const stats = meanStd(trials.map((t) => accuracyOf(t.accuracy[metric])).filter((v): v is number => v !== undefined));
      if (stats) accuracy[metric] = stats;
    }
    return {
      model: first.model,
      strategy: first.strategy,
      scope: first.scope,
      series: seriesName(first),
      ratio: first.ratio,
      quantized: first.quantized,
      trials: trials.length,
      accuracy,
      nonzeroParameters: meanStd(trials.map((t) => t.nonzeroParameters).filter((v): v is number => v !== undefined)),
      sizeBytes: meanStd(trials.map((t) => t.sizeBytes).filter((v): v is number => v !== undefined)),
    };
  });
  return sortRows(summaries);
}
