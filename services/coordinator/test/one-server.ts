import { afterAll, beforeAll } from "vitest";
import { gapFiles } from "@gap/proto";
import { startService, type RunningService, type ServiceConfig, type ServiceRegistration } from "@gap/service-kit";

/** Addresses that send every compute service's calls to `address`. */
export const everyServiceAt = (address: string) => ({ training: [address], attack: [address], pruning: [address], quantization: [address], evaluation: [address] });

/**
 * One real gRPC server on 127.0.0.1 serving `services`, for the tests of the file:
 * started before them, shut down after. `addresses` sends every compute service's
 * calls to it.
 */
export function oneServer(name: ServiceConfig["name"], services: ServiceRegistration[]) {
  let server: RunningService | undefined;
  beforeAll(async () => {
    server = await startService({ config: { name, host: "127.0.0.1", port: 0, maxMessageBytes: 1 << 20, shutdownGraceMs: 100, queueLimit: 0, metricsPort: 0 }, files: gapFiles, services });
  });
  afterAll(() => server?.shutdown());
  return {
    get address() {
      return server!.address;
    },
    get addresses() {
      return everyServiceAt(server!.address);
    },
  };
}
