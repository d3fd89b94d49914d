import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { chromium } from "playwright-core";
import { buildReport, REPORT_PAGE, reportFigures } from "../src/index.js";
import { fixtureData, fixtureRows } from "./fixture.js";

const CHROMIUM = process.env.GAP_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
/** The flags this machine's closed network needs (no background connections). */
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

describe("HTML report", async () => {
  const data = fixtureData(fixtureRows(["resnet20", "vgg_bn_drop"]));
  const files = await buildReport(data);
  const page = new TextDecoder().decode(files[0]!.bytes);

  it("comes first, with every figure inline and every companion file listed", () => {
    expect(files[0]!.name).toBe(REPORT_PAGE);
    const figures = reportFigures(data);
    // Fig. 2 and held-out transfer per model, Fig. 1 and overlap for resnet20.
    expect(figures.map((f) => f.name)).toEqual(["fig2-resnet20", "held-out-transfer-resnet20", "fig2-vgg_bn_drop", "held-out-transfer-vgg_bn_drop", "fig1-resnet20", "overlap-resnet20"]);
    expect(page.match(/<svg /g)).toHaveLength(figures.length);
    for (const figure of figures) {
      expect(files.map((f) => f.name)).toContain(`${figure.name}.svg`);
      expect(files.map((f) => f.name)).toContain(`${figure.name}.png`);
    }
    for (const file of files) expect(page).toContain(`<code>${file.name}</code>`);
    expect(new Set(files.map((f) => f.name)).size).toBe(files.length);
  });

  it("is self-contained and escapes what it quotes", () => {
    expect(page).not.toMatch(/<script|<link|<img|\ssrc=|href="(?!#)|url\((?!#)/i);
    expect(page).toContain("<title>GAP Lab report: fixture &lt;experiment&gt; &amp; co</title>");
    expect(page).toContain("&quot;compressionRatios&quot;");
    expect(page).toContain("wasm (SIMD, 1 thread)");
  });

  it.skipIf(!hasChromium)("renders in headless Chromium without console errors or failed requests", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gap-report-"));
    for (const file of files) writeFileSync(join(dir, file.name), file.bytes);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      tab.on("console", (message) => message.type() === "error" && problems.push(`console: ${message.text()}`));
      tab.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      tab.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
      const requests: string[] = [];
      tab.on("request", (request) => requests.push(request.url()));
      await tab.goto(pathToFileURL(join(dir, REPORT_PAGE)).href, { waitUntil: "load" });
      expect(problems).toEqual([]);
      expect(requests).toHaveLength(1); // the page itself: nothing else is fetched
      // Every figure laid out with a real size, and the tables filled.
      const sizes = await tab.$$eval("figure svg", (svgs) => svgs.map((s) => s.getBoundingClientRect()).map((r) => [r.width, r.height]));
      expect(sizes).toHaveLength(6);
      for (const [width, height] of sizes) expect(width! > 100 && height! > 100).toBe(true);
      expect(await tab.$$eval("#results tbody tr", (rows) => rows.length)).toBe(2 * 20);
      const out = process.env.GAP_REPORT_SCREENSHOT_DIR ?? dir;
      mkdirSync(out, { recursive: true });
      const screenshot = await tab.screenshot({ path: join(out, "report-screenshot.png"), fullPage: true });
      expect(screenshot.length).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
