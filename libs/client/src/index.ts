import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CoordinatorService,
  RunState,
  type ExperimentEvent,
  type ExperimentSpecSchema,
  type ExperimentSummary,
  type GetReportResponse,
  type GetResultsResponse,
} from "@gap/proto";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, isTransient, status, type CallOptions } from "@gap/service-kit";

export { RunState };
export type ExperimentSpecInit = MessageInitShape<typeof ExperimentSpecSchema>;

/** Start, watch and fetch experiments on a GAP Lab coordinator (host:port). */
export class GapClient {
  private readonly rpc;

  constructor(address: string) {
    this.rpc = createClient(CoordinatorService, address);
  }

  /** Starts (or resumes: the id is the spec's hash) an experiment. */
  async start(spec: ExperimentSpecInit, options?: CallOptions): Promise<{ experimentId: string; totalSteps: number }> {
    const reply = await this.rpc.startExperiment({ spec }, options);
    return { experimentId: reply.experimentId, totalSteps: reply.totalSteps };
  }

  /** Every event of the experiment from its start, then new ones until it ends. */
  watch(experimentId: string, options?: CallOptions): AsyncIterable<ExperimentEvent> {
    return this.rpc.watchExperiment({ experimentId }, options);
  }

  /**
   * Watches until the experiment ends and returns its final state. A watch
   * cut by a restarting coordinator reconnects (the new one replays the
   * events of the run it resumed) for up to `reconnectMs`; an experiment that
   * ended meanwhile is read from the store.
   */
  async wait(
    experimentId: string,
    onEvent?: (event: ExperimentEvent) => void,
    options: CallOptions & { reconnectMs?: number; onReconnect?: (error: Error) => void } = {},
  ): Promise<RunState> {
    const reconnectMs = options.reconnectMs ?? 300_000;
    let cutAt: number | undefined;
    for (let attempt = 0; ; attempt++) {
      let state: RunState | undefined;
      try {
        for await (const event of this.watch(experimentId, options)) {
          cutAt = undefined;
          onEvent?.(event);
          if (event.stepId === "" && event.state !== RunState.RUNNING && event.state !== RunState.PENDING) state = event.state;
        }
        if (state !== undefined) return state;
        throw Object.assign(new Error("the watch ended before the experiment did"), { code: status.UNAVAILABLE });
      } catch (error) {
        const code = (error as { code?: number }).code;
        if (options.signal?.aborted || !(isTransient(error) || code === status.NOT_FOUND)) throw error;
        if (code === status.NOT_FOUND) {
          // Not running in this coordinator: finished (its state is stored), or not resumed yet.
          const stored = await this.results(experimentId, options).catch(() => undefined);
          if (stored && ![RunState.RUNNING, RunState.PENDING].includes(stored.state)) return stored.state;
        }
        cutAt ??= Date.now();
        if (Date.now() - cutAt > reconnectMs) throw error;
        options.onReconnect?.(error as Error);
        await sleep(Math.min(5_000, 250 * 2 ** attempt));
      }
    }
  }

  results(experimentId: string, options?: CallOptions): Promise<GetResultsResponse> {
    return this.rpc.getResults({ experimentId }, options);
  }

  /** The HTML report and its files (tables, figures) in the store; written from the results so far while the experiment runs. */
  report(experimentId: string, options?: CallOptions): Promise<GetReportResponse> {
    return this.rpc.getReport({ experimentId }, options);
  }

  async list(options?: CallOptions): Promise<ExperimentSummary[]> {
    return (await this.rpc.listExperiments({}, options)).experiments;
  }

  async cancel(experimentId: string, options?: CallOptions): Promise<RunState> {
    return (await this.rpc.cancelExperiment({ experimentId }, options)).state;
  }

  close(): void {
    this.rpc.close();
  }
}
