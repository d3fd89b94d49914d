import { describe, expect, it } from "vitest";
import { meanStd, resultRecords, summarize, toCsv, toMarkdown, RECORD_COLUMNS, type ReportRow } from "../src/index.js";
import { fixtureRows, RATIOS, STRATEGIES, TRIALS } from "./fixture.js";

/** A small RFC 4180 reader, independent of the writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(cell), (cell = "");
    else if (c === "\r" && text[i + 1] === "\n") row.push(cell), rows.push(row), (row = []), (cell = ""), i++;
    else cell += c;
  }
  return rows;
}

describe("meanStd", () => {
  it("gives the mean and the sample standard deviation", () => {
    const stats = meanStd([0.5, 0.7, 0.9])!;
    expect(stats.mean).toBeCloseTo(0.7, 12);
    expect(stats.std).toBeCloseTo(0.2, 12); // sqrt(((-.2)^2 + 0 + .2^2) / 2)
    expect(meanStd([0.3])).toEqual({ mean: 0.3, std: 0, n: 1 });
    expect(meanStd([])).toBeUndefined();
  });
});

describe("result tables", () => {
  const rows = fixtureRows();

  it("the CSV has one record per model, strategy, ratio, trial and quantized flag, with the exact counts of the results", () => {
    const [header, ...lines] = parseCsv(toCsv(resultRecords(rows)));
    expect(header).toEqual([...RECORD_COLUMNS]);
    expect(lines).toHaveLength(rows.length);
    expect(lines).toHaveLength((1 + STRATEGIES.length * RATIOS.length) * 2 * TRIALS);
    const col = (name: string) => header!.indexOf(name);
    for (const row of rows) {
      const matches = lines.filter(
        (l) => l[col("model")] === row.model && l[col("strategy")] === row.strategy && l[col("scope")] === row.scope && Number(l[col("ratio")]) === row.ratio && Number(l[col("trial")]) === row.trial && l[col("quantized")] === String(row.quantized),
      );
      expect(matches).toHaveLength(1);
      const line = matches[0]!;
      for (const [metric, name] of [["clean", "clean"], ["adversarial", "adversarial"], ["transfer", "transfer"], ["heldOutTransfer", "held_out_transfer"]] as const) {
        const count = row.accuracy[metric]!;
        expect(Number(line[col(`${name}_correct`)])).toBe(count.correct);
        expect(Number(line[col(`${name}_total`)])).toBe(count.total);
        expect(Number(line[col(`${name}_accuracy`)])).toBe(count.correct / count.total);
        // The cell's mean and std, computed here from sums over the same cell's trials.
        const cell = rows.filter((r) => r.model === row.model && r.strategy === row.strategy && r.scope === row.scope && r.ratio === row.ratio && r.quantized === row.quantized);
        const values = cell.map((r) => r.accuracy[metric]!.correct / r.accuracy[metric]!.total);
        const sum = values.reduce((a, b) => a + b, 0);
        const sumSquares = values.reduce((a, b) => a + b * b, 0);
        const n = values.length;
        expect(Number(line[col(`${name}_mean`)])).toBeCloseTo(sum / n, 12);
        expect(Number(line[col(`${name}_std`)])).toBeCloseTo(Math.sqrt(Math.max(0, (sumSquares - (sum * sum) / n) / (n - 1))), 9);
      }
      expect(Number(line[col("trials")])).toBe(TRIALS);
      expect(Number(line[col("nonzero_parameters")])).toBe(row.nonzeroParameters);
      expect(Number(line[col("size_bytes")])).toBe(row.sizeBytes);
    }
  });

  it("the JSON holds the same records as the CSV", () => {
    const records = resultRecords(rows);
    const [header, ...lines] = parseCsv(toCsv(records));
    const json = JSON.parse(JSON.stringify(records)) as Array<Record<string, unknown>>;
    expect(json).toHaveLength(lines.length);
    json.forEach((record, i) => header!.forEach((c, j) => expect(record[c] === null ? "" : String(record[c])).toBe(lines[i]![j])));
  });

  it("leaves unmeasured metrics empty and quotes cells that need it", () => {
    const odd: ReportRow = { model: 'net,"v2"', strategy: "gap", scope: "global", ratio: 2, trial: 0, quantized: false, accuracy: { clean: { correct: 1, total: 4 } }, nonzeroParameters: 10, sizeBytes: 40 };
    const [header, line] = parseCsv(toCsv(resultRecords([odd])));
    expect(line![header!.indexOf("model")]).toBe('net,"v2"');
    expect(line![header!.indexOf("adversarial_correct")]).toBe("");
    expect(line![header!.indexOf("clean_accuracy")]).toBe("0.25");
  });

  it("the Markdown summary has one line per grid cell, with mean ± std in percent", () => {
    const summaries = summarize(rows);
    expect(summaries).toHaveLength((1 + STRATEGIES.length * RATIOS.length) * 2);
    const lines = toMarkdown(summaries).trim().split("\n");
    expect(lines).toHaveLength(summaries.length + 2);
    const gap4 = summaries.find((s) => s.strategy === "gap" && s.ratio === 4 && !s.quantized)!;
    const clean = gap4.accuracy.clean!;
    const expected = `${(clean.mean * 100).toFixed(1)} ± ${(clean.std * 100).toFixed(1)}`;
    expect(lines.find((l) => l.startsWith("| resnet20 | gap (global) | 4 | no | 3 |"))).toContain(expected);
  });
});
