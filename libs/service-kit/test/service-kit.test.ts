import { spawn } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, loadPackageDefinition, makeGenericClientConstructor, status, type Client } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { CoordinatorService, RunState } from "@gap/proto";
import { createClient, JobQueue, type RunningService, type TypedClient } from "../src/index.js";
import { calls, startTrivialService } from "./fixtures/trivial-service.js";

const require = createRequire(import.meta.url);
let service: RunningService;
let client: TypedClient<typeof CoordinatorService>;

beforeAll(async () => {
  service = await startTrivialService();
  client = createClient(CoordinatorService, service.address);
});
afterAll(async () => {
  client.close();
  await service.shutdown();
});

function grpcError(promise: Promise<unknown>) {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: { code: number; details: string }) => error,
  );
}

describe("service-kit over a real gRPC connection", () => {
  it("answers the standard health check for the server and for each service", async () => {
    const Health = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
    const health = new Health(service.address, credentials.createInsecure()) as Client & Record<string, Function>;
    const check = (name: string) =>
      new Promise<{ status: string }>((resolve, reject) =>
        health.Check({ service: name }, (error: Error | null, reply: { status: string }) => (error ? reject(error) : resolve(reply))),
      );
    expect((await check("")).status).toBe("SERVING");
    expect((await check("gap.v1.CoordinatorService")).status).toBe("SERVING");
    const unknown = await grpcError(check("gap.v1.NoSuchService"));
    expect(unknown.code).toBe(status.NOT_FOUND);
    health.close();
  });

  it("lists the services and serves descriptors through server reflection", async () => {
    const reflectionProto = join(dirname(require.resolve("@grpc/reflection/package.json")), "build/proto/grpc/reflection/v1/reflection.proto");
    const loaded = loadPackageDefinition(loadSync(reflectionProto)) as any;
    const reflection = new loaded.grpc.reflection.v1.ServerReflection(service.address, credentials.createInsecure());
    const stream = reflection.ServerReflectionInfo();
    const replies: any[] = [];
    stream.on("data", (reply: any) => replies.push(reply));
    stream.write({ listServices: "" });
    stream.write({ fileContainingSymbol: "gap.v1.ExperimentSpec" });
    stream.end();
    await once(stream, "end");
    reflection.close();
    const names = replies[0].listServicesResponse.service.map((s: { name: string }) => s.name);
    expect(names).toContain("gap.v1.CoordinatorService");
    expect(names).toContain("grpc.health.v1.Health");
    const files = replies[1].fileDescriptorResponse.fileDescriptorProto as Buffer[];
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString("latin1")).toContain("gap/v1/common.proto");
  });

  it("round-trips a valid unary call", async () => {
    const reply = await client.startExperiment({ spec: { name: "quick", compressionRatios: [2, 4] } });
    expect(reply.experimentId).toBe("exp-quick");
    expect(reply.totalSteps).toBe(2);
  });

  it("turns bad input into INVALID_ARGUMENT naming the field", async () => {
    const missingSpec = await grpcError(client.startExperiment({}));
    expect(missingSpec.code).toBe(status.INVALID_ARGUMENT);
    expect(missingSpec.details).toContain("spec");
    const emptyName = await grpcError(client.startExperiment({ spec: { name: "" } }));
    expect(emptyName.code).toBe(status.INVALID_ARGUMENT);
    expect(emptyName.details).toMatch(/^spec\.name: /);
    const badRatio = await grpcError(client.startExperiment({ spec: { name: "x", compressionRatios: [0.5] } }));
    expect(badRatio.details).toContain("spec.compression_ratios");
    // The service still serves afterwards.
    expect((await client.cancelExperiment({ experimentId: "x" })).state).toBe(RunState.CANCELLED);
  });

  it("honours deadlines: the client gets DEADLINE_EXCEEDED and the handler is aborted", async () => {
    const before = calls.slowAborted;
    const error = await grpcError(client.getResults({ experimentId: "x" }, { deadline: 200 }));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    await expect.poll(() => calls.slowAborted).toBe(before + 1);
  });

  it("streams, and a client cancellation reaches the handler", async () => {
    const before = calls.watchAborted;
    const controller = new AbortController();
    const seen: number[] = [];
    try {
      for await (const event of client.watchExperiment({ experimentId: "e" }, { signal: controller.signal })) {
        seen.push(event.stepsDone);
        if (seen.length === 3) controller.abort();
      }
    } catch (error) {
      expect((error as { code: number }).code).toBe(status.CANCELLED);
    }
    expect(seen).toEqual([1, 2, 3]);
    await expect.poll(() => calls.watchAborted).toBe(before + 1);
  });

  it("rejects messages over the configured maximum size with RESOURCE_EXHAUSTED", async () => {
    const error = await grpcError(client.startExperiment({ spec: { name: "x".repeat(100 * 1024) } }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });
});

describe("replicas", () => {
  it("spreads calls over several addresses in turn", async () => {
    const replicas = await Promise.all([startTrivialService(), startTrivialService()]);
    const spread = createClient(CoordinatorService, replicas.map((r) => r.address));
    const served: string[] = [];
    for (let i = 0; i < 4; i++) served.push((await spread.startExperiment({ spec: { name: `r${i}`, compressionRatios: [2] } })).experimentId);
    expect(replicas.map((r) => r.counter.starts)).toEqual([2, 2]);
    expect(served).toHaveLength(4);
    spread.close();
    await Promise.all(replicas.map((r) => r.shutdown()));
  });

  it("sends a call to the replica with the fewest calls in flight, not the next in turn", async () => {
    const replicas = await Promise.all([startTrivialService(), startTrivialService()]);
    const spread = createClient(CoordinatorService, replicas.map((r) => r.address));
    // A stream held open on the first replica; then a call to the second, after which
    // plain rotation would pick the busy first one again.
    const controller = new AbortController();
    const stream = spread.watchExperiment({ experimentId: "held" }, { signal: controller.signal });
    const held = (async () => {
      for await (const _ of stream) void _;
    })().catch((error: { code?: number }) => expect(error.code).toBe(status.CANCELLED));
    for (let i = 0; i < 3; i++) await spread.startExperiment({ spec: { name: `busy${i}`, compressionRatios: [2] } });
    expect(replicas.map((r) => r.counter.starts)).toEqual([0, 3]);
    controller.abort();
    await held;
    // Both idle again: in turn.
    for (let i = 0; i < 2; i++) await spread.startExperiment({ spec: { name: `idle${i}`, compressionRatios: [2] } });
    expect(replicas.map((r) => r.counter.starts)).toEqual([1, 4]);
    spread.close();
    await Promise.all(replicas.map((r) => r.shutdown()));
  });
});

describe("connection renewal", () => {
  it("opens fresh channels for new calls after connectionAgeMs while a long call finishes on its old one", async () => {
    const replica = await startTrivialService();
    const renewing = createClient(CoordinatorService, replica.address, { connectionAgeMs: 150 });
    const seen: number[] = [];
    const controller = new AbortController();
    const watching = (async () => {
      for await (const event of renewing.watchExperiment({ experimentId: "long" }, { signal: controller.signal })) {
        seen.push(event.stepsDone);
        if (seen.length === 60) controller.abort(); // ~1.2 s: eight connection ages
      }
    })().catch((error: { code?: number }) => expect(error.code).toBe(status.CANCELLED));
    const started: string[] = [];
    while (seen.length < 60) {
      started.push((await renewing.startExperiment({ spec: { name: `n${started.length}`, compressionRatios: [2] } })).experimentId);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await watching;
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1)); // never dropped, nothing missed
    expect(started.length).toBeGreaterThan(5);
    expect(renewing.channels().opened).toBeGreaterThan(3);
    // The long call's channel and every idle older one are closed: only the newest stays.
    expect(renewing.channels().open).toBe(1);
    renewing.close();
    await replica.shutdown();
  });
});

describe("JobQueue", () => {
  it("runs one job at a time, queues up to the limit and refuses the rest with RESOURCE_EXHAUSTED", async () => {
    const queue = new JobQueue(1);
    const order: string[] = [];
    let release!: () => void;
    const first = queue.run(new AbortController().signal, () => new Promise<void>((r) => (release = r)).then(() => void order.push("a")));
    const second = queue.run(new AbortController().signal, async () => void order.push("b"));
    const third = queue.run(new AbortController().signal, async () => void order.push("c"));
    await expect(third).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    expect(queue.depth).toBe(2);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["a", "b"]);
    expect(queue.depth).toBe(0);
  });

  it("drops a waiting job whose call is cancelled", async () => {
    const queue = new JobQueue(2);
    let release!: () => void;
    const running = queue.run(new AbortController().signal, () => new Promise<void>((r) => (release = r)));
    const controller = new AbortController();
    let ran = false;
    const waiting = queue.run(controller.signal, async () => void (ran = true));
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: status.CANCELLED });
    release();
    await running;
    expect(ran).toBe(false);
  });
});

describe("graceful shutdown", () => {
  it("lets an in-flight call finish on SIGTERM, then exits 0", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures/trivial-service.ts")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        const match = /PORT (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      child.once("exit", (code) => reject(new Error(`service exited early (${code}): ${stderr}`)));
    });
    const remote = createClient(CoordinatorService, `127.0.0.1:${port}`);
    const inFlight = remote.listExperiments({}); // takes 300 ms
    await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGTERM");
    const reply = await inFlight;
    expect(reply.experiments[0]?.experimentId).toBe("exp-a");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    expect(stderr).toContain('"msg":"shutting down"');
    expect(stderr).toContain('"reason":"SIGTERM"');
    remote.close();
  });

  it("cancels calls still running when the grace period is over", async () => {
    const short = await startTrivialService({ shutdownGraceMs: 200 });
    const remote = createClient(CoordinatorService, short.address);
    const stuck = grpcError(remote.getResults({ experimentId: "x" }));
    await new Promise((r) => setTimeout(r, 50));
    await short.shutdown("test");
    const error = await stuck;
    expect([status.CANCELLED, status.UNAVAILABLE]).toContain(error.code);
    remote.close();
  });
});
