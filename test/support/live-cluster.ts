import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from "@gap/coordinator";
import { startS3rver } from "./s3rver.js";

export interface LiveCluster {
  s3: Awaited<ReturnType<typeof startS3rver>>;
  cluster: LocalCluster;
}

/**
 * A real S3 server and every service as a local process on it, for the tests of the
 * enclosing describe (or file): started before them, stopped after. `name` names the
 * temp log directory; env and options go to startLocalCluster.
 */
export function liveCluster(name: string, env: Record<string, string> = {}, options: Omit<LocalClusterOptions, "env" | "logDir"> = {}): LiveCluster {
  const live = {} as LiveCluster;
  beforeAll(async () => {
    live.s3 = await startS3rver();
    live.cluster = await startLocalCluster({ ...options, env: { ...live.s3.env, ...env }, logDir: mkdtempSync(join(tmpdir(), `gap-${name}-logs-`)) });
  });
  afterAll(async () => {
    await live.cluster?.stop();
    await live.s3?.stop();
  });
  return live;
}
