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
import { createClient, type CallOptions } from "@gap/service-kit";

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

  /** Watches until the experiment ends and returns its final state. */
  async wait(experimentId: string, onEvent?: (event: ExperimentEvent) => void, options?: CallOptions): Promise<RunState> {
    let state = RunState.RUNNING;
    for await (const event of this.watch(experimentId, options)) {
      onEvent?.(event);
      if (event.stepId === "") state = event.state;
    }
    return state;
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
