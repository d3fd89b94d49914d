import { describe, expect, it } from "vitest";
import { nativeThreads } from "../src/local-cluster.js";

describe("nativeThreads: the cores shared out among the jobs that run at once", () => {
  it("gives each of two jobs one of two cores, and half of eight", () => {
    expect(nativeThreads({}, 2, 2)).toBe("1");
    expect(nativeThreads({}, 2, 8)).toBe("4");
    expect(nativeThreads({}, 3, 8)).toBe("2");
  });
  it("gives one job every core, and never fewer than one thread", () => {
    expect(nativeThreads({}, 1, 2)).toBe("2");
    expect(nativeThreads({}, 4, 2)).toBe("1");
  });
  it("keeps OMP_NUM_THREADS when the caller set it", () => {
    expect(nativeThreads({ OMP_NUM_THREADS: "2" }, 2, 2)).toBe("2");
  });
});
