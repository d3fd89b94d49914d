// Turn-taking between benchmark processes started with --turns (src/ml.ts and
// tools/pytorch/bench_reference.py): before each unit of work a process writes
// "wait <unit>" to its file descriptor 3 and blocks until a line arrives on its stdin.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** One side of a paired run: a benchmark process started with --turns. */
export interface Side {
  executable: string;
  argv: string[];
  outFile: string;
  quietStdout: boolean;
}

/**
 * A child started with --turns: the units it announces ("wait <unit>" on its fd 3), in
 * order, then null once it has exited; go() lets it run the announced unit.
 */
export class TurnTaker {
  readonly child: ChildProcess;
  /** Set when the process ends: its exit code and, when it failed, why. */
  ended: { exitCode: number | null; error?: string } | null = null;
  private readonly announced: string[] = [];
  private wake: (() => void) | null = null;

  constructor(side: Side, cwd: string) {
    this.child = spawn(side.executable, side.argv, { cwd, stdio: ["pipe", side.quietStdout ? "ignore" : "inherit", "inherit", "pipe"] });
    this.child.stdin!.on("error", () => {}); // a child that died cannot take its turn: its end says why
    createInterface({ input: this.child.stdio[3] as Readable }).on("line", (line) => {
      this.announced.push(line.replace(/^wait /, ""));
      this.wake?.();
    });
    const end = (exitCode: number | null, error?: string) => {
      this.ended ??= { exitCode, ...(error || exitCode !== 0 ? { error: error ?? `exited with code ${exitCode}` } : {}) };
      this.wake?.();
    };
    this.child.on("error", (e) => end(null, e.message));
    // "close", not "exit": the announcements still in the pipe are read first.
    this.child.on("close", (code, signal) => end(code, signal ? `killed by ${signal}` : undefined));
  }

  async next(): Promise<string | null> {
    while (this.announced.length === 0 && !this.ended) await new Promise<void>((r) => (this.wake = r));
    return this.announced.shift() ?? null;
  }

  go(): void {
    this.child.stdin!.write("go\n");
  }
}

/**
 * Lets the processes run their units one at a time, each unit of the first, then the same
 * unit of the second, and so on, the order swapping after every pair (ABBA), until all
 * have exited. Throws when they announce different units (one failed, or they disagree).
 */
export async function alternate(takers: readonly TurnTaker[]): Promise<void> {
  const units = await Promise.all(takers.map((t) => t.next()));
  const order = takers.map((_, i) => i);
  while (units.some((u) => u !== null)) {
    if (units.some((u) => u !== units[0])) throw new Error(`the runs are out of step: ${units.map((u) => u ?? "(exited)").join(" against ")}`);
    for (const i of order) {
      takers[i]!.go();
      units[i] = await takers[i]!.next();
    }
    order.reverse();
  }
}
