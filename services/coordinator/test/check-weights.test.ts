// The coordinator's base-weights check goes to the training service over real gRPC: the
// service's verdicts keep their status and get the spec field in front; a service that
// cannot be reached is named as such, with its transient status.
import { describe, expect, it } from "vitest";
import { Architecture, TrainingService } from "@gap/proto";
import { failedPrecondition, implement, isTransient, status } from "@gap/service-kit";
import { createStepCaller } from "../src/clients.js";
import { everyServiceAt, oneServer } from "./one-server.js";

const server = oneServer("training", [
  implement(TrainingService, {
    async *train() {
      throw new Error("not used");
    },
    async checkWeights(request) {
      if (request.weights?.key === "good") return { weights: { ...request.weights, sha256: "a".repeat(64) } };
      if (request.weights?.key === "no-answer") return {};
      throw failedPrecondition("weights: linear.weight: file has F32 [100, 64], model needs F32 [10, 64]");
    },
  }),
]);

const model = { architecture: Architecture.RESNET20, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };

describe("checking base weights through the training service", () => {
  it("returns the service's complete reference, its verdict with the spec field in front and the same status, and refuses a reply without a reference", async () => {
    const caller = createStepCaller(server.addresses, { silenceLimitMs: 10_000 });
    try {
      const good = await caller.checkWeights(model, { $typeName: "gap.v1.ArtifactRef", bucket: "", key: "good", sha256: "", sizeBytes: 0n, kind: 0 }, "spec.base_weights[0]");
      expect(good.sha256).toBe("a".repeat(64));
      const bad = await caller.checkWeights(model, { $typeName: "gap.v1.ArtifactRef", bucket: "", key: "bad", sha256: "", sizeBytes: 0n, kind: 0 }, "spec.base_weights[0]").catch((e: unknown) => e);
      expect(bad).toMatchObject({ code: status.FAILED_PRECONDITION, message: "spec.base_weights[0].weights: linear.weight: file has F32 [100, 64], model needs F32 [10, 64]" });
      // A reply without a reference is an error, never weights taken as checked.
      const empty = await caller.checkWeights(model, { $typeName: "gap.v1.ArtifactRef", bucket: "", key: "no-answer", sha256: "", sizeBytes: 0n, kind: 0 }, "spec.base_weights[0]").catch((e: unknown) => e);
      expect(empty).toMatchObject({ code: status.INTERNAL, message: "the training service checked spec.base_weights[0] but returned no reference with a sha256" });
    } finally {
      caller.close();
    }
  });

  it("names the training service, not a field, when it cannot be reached, and stays transient", async () => {
    const caller = createStepCaller(everyServiceAt("127.0.0.1:1"), { silenceLimitMs: 10_000 });
    try {
      const error = (await caller.checkWeights(model, undefined, "spec.base_weights[1]").catch((e: unknown) => e)) as { code: number; message: string };
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.message).toMatch(/^the training service could not check spec\.base_weights\[1\]: /);
      expect(isTransient(error)).toBe(true);
    } finally {
      caller.close();
    }
  });
});
