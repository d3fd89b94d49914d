// Turn-taking between real child processes: each unit runs alone, the order swaps after
// every pair (ABBA), and processes that fall out of step are reported, not waited for.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { alternate, TurnTaker } from "../src/turns.js";

/** A child that announces each unit on fd 3, waits for its turn, then logs the unit's start and end 20 ms apart. */
const CHILD = `
const fs = require("node:fs");
const [log, name, ...units] = process.argv.slice(1);
const byte = Buffer.alloc(1);
for (const unit of units) {
  fs.writeSync(3, "wait " + unit + "\\n");
  do if (fs.readSync(0, byte, 0, 1, null) === 0) process.exit(9); while (byte[0] !== 10);
  fs.appendFileSync(log, name + " start " + unit + "\\n");
  const start = Date.now();
  while (Date.now() - start < 20);
  fs.appendFileSync(log, name + " end " + unit + "\\n");
}
`;

function children(units: Record<string, string[]>) {
  const log = join(mkdtempSync(join(tmpdir(), "turns-")), "log");
  const takers = Object.entries(units).map(
    ([name, list]) => new TurnTaker({ executable: process.execPath, argv: ["-e", CHILD, log, name, ...list], outFile: "", quietStdout: false }, tmpdir()),
  );
  return { takers, log: () => readFileSync(log, "utf8").trim().split("\n") };
}

describe("alternate", () => {
  it("runs one unit at a time, the same unit of each side in turn, swapping the order after every pair", async () => {
    const { takers, log } = children({ A: ["u1", "u2", "u3"], B: ["u1", "u2", "u3"] });
    await alternate(takers);
    const runs = (name: string, unit: string) => [`${name} start ${unit}`, `${name} end ${unit}`];
    expect(log()).toEqual([...runs("A", "u1"), ...runs("B", "u1"), ...runs("B", "u2"), ...runs("A", "u2"), ...runs("A", "u3"), ...runs("B", "u3")]);
    expect(takers.map((t) => t.ended)).toEqual([{ exitCode: 0 }, { exitCode: 0 }]);
  });

  it("reports sides that announce different units, or one that has exited", async () => {
    const differ = children({ A: ["u1", "x"], B: ["u1", "y"] });
    await expect(alternate(differ.takers)).rejects.toThrow("the runs are out of step: x against y");
    for (const t of differ.takers) t.child.kill();

    const exited = children({ A: ["u1", "u2"], B: ["u1"] });
    await expect(alternate(exited.takers)).rejects.toThrow("the runs are out of step: u2 against (exited)");
    exited.takers[0]!.child.kill();
  });

  it("reports a side that fails before its first unit with its exit code", async () => {
    const failing = new TurnTaker({ executable: process.execPath, argv: ["-e", "process.exit(3)"], outFile: "", quietStdout: false }, tmpdir());
    await alternate([failing]);
    expect(failing.ended).toEqual({ exitCode: 3, error: "exited with code 3" });
  });
});
