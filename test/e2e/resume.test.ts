import { describe, expect, it } from "vitest";
import { GapClient } from "@gap/client";
import { RunState, type ExperimentEvent } from "@gap/proto";
import { liveCluster } from "../support/live-cluster.js";
import { tinySpec } from "../support/tiny-spec.js";

const live = liveCluster("resume", { GAP_CONCURRENCY: "1" });

const finishedSteps = (events: ExperimentEvent[], state: RunState) => new Set(events.filter((e) => e.stepId && e.state === state).map((e) => e.stepId));

describe("a coordinator killed mid-run", () => {
  it("resumes after a restart without recomputing finished steps, and the table is complete", async () => {
    const spec = tinySpec("resume");
    let client = new GapClient(live.cluster.coordinatorAddress);
    const { experimentId, totalSteps } = await client.start(spec);
    const before: ExperimentEvent[] = [];
    // Watch until a few steps are done, then kill the coordinator without warning.
    const killed = (async () => {
      for await (const event of client.watch(experimentId)) {
        before.push(event);
        if (finishedSteps(before, RunState.SUCCEEDED).size >= 4) {
          live.cluster.processes.get("coordinator")!.kill("SIGKILL");
          return;
        }
      }
    })();
    await killed.catch(() => {}); // the stream breaks when the process dies
    client.close();
    const doneBefore = finishedSteps(before, RunState.SUCCEEDED);
    expect(doneBefore.size).toBeGreaterThanOrEqual(4);
    expect(doneBefore.size).toBeLessThan(totalSteps);

    // A new coordinator process finds the running experiment in the store and resumes it.
    client = new GapClient(await live.cluster.restart("coordinator"));
    let after: ExperimentEvent[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        after = [];
        await client.wait(experimentId, (e) => after.push(e));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 200)); // not resumed yet
      }
    }
    const cached = finishedSteps(after, RunState.CACHED);
    const recomputed = finishedSteps(after, RunState.SUCCEEDED);
    for (const step of doneBefore) expect(cached.has(step)).toBe(true);
    for (const step of doneBefore) expect(recomputed.has(step)).toBe(false);
    expect(cached.size + recomputed.size).toBe(totalSteps);
    const { state, rows } = await client.results(experimentId);
    expect(state).toBe(RunState.SUCCEEDED);
    expect(rows).toHaveLength(8);
    for (const row of rows) for (const metric of [row.clean, row.adversarial, row.transfer, row.heldOutTransfer]) expect(metric?.total).toBeGreaterThan(0n);
    client.close();
  });
});
