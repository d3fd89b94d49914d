import { ArtifactKind, QuantizationService, QuantizeRequestSchema } from "@gap/proto";
import { implement, invalidArgument, required, ServiceError } from "@gap/service-kit";
import { calibrate, encodeQuantizedModel, quantizedSize, quantizeModel } from "@gap/algorithms";
import { applyMasks, Network, withMaskTensors } from "@gap/ml-core";
import {
  artifactRef,
  derivedKey,
  loadDataset,
  modelConfig,
  outputKey,
  quantizationSettings,
  requiredRef,
  withModel,
  computeJob,
  type ComputeDeps,
} from "@gap/compute";

/** Inputs per calibration forward (the request has no batch size: calibration only observes). */
const CALIBRATION_BATCH_SIZE = 128;

/**
 * 8-bit post-training static quantization: masks applied, activation ranges calibrated
 * on a stratified subset of the calibration data, BatchNorm folded, weights to int8.
 */
export function quantizationService({ store, sources, queue }: ComputeDeps) {
  return implement(QuantizationService, {
    async *quantize(request, context) {
      const config = modelConfig(request.model, "model");
      const settings = quantizationSettings(request.config, "config");
      const calibrationSize = settings.calibrationSize;
      const calibrationRef = required(request.calibrationData, "calibration_data");
      requiredRef(request.weights, "weights", ArtifactKind.WEIGHTS);
      const key = outputKey(request.outputKey, () => derivedKey("quantized", QuantizeRequestSchema, request));
      // calibration_size examples of the split, drawn as loadDataset draws any subset (its subset_size is overridden).
      const data = await loadDataset({ ...calibrationRef, subsetSize: calibrationSize }, "calibration_data", sources, config).catch((error) => {
        const field = "calibration_data.subset_size";
        if (error instanceof ServiceError && error.field === field) throw invalidArgument("config.calibration_size", error.message.replace(`${field}: `, ""));
        throw error;
      });

      yield* computeJob("quantization", queue, context, async (report) => {
        return withModel(store, config, { weights: request.weights, mask: request.mask }, async (model, masks) => {
          if (!(model instanceof Network)) throw new Error("loadModel did not build a Network");
          // Pruned weights exactly 0, so 0 as int8 too (a mask that does not fit: ShapeMismatchError, FAILED_PRECONDITION).
          await withMaskTensors(model, masks, async (tensors) => tensors && applyMasks(model, tensors));
          const ranges = await calibrate(model, data, {
            batchSize: CALIBRATION_BATCH_SIZE,
            signal: context.signal,
            onProgress: (done, total) => report({ step: done, total, phase: "calibrate" }),
          });
          const quantized = quantizeModel(model, ranges, { perChannel: settings.perChannel });
          const stored = await store.put(key, encodeQuantizedModel(quantized, { calibration_size: String(calibrationSize) }));
          const size = quantizedSize(quantized, masks);
          return {
            quantizedModel: artifactRef(stored, ArtifactKind.QUANTIZED_MODEL),
            sizeBytesBefore: BigInt(size.before),
            sizeBytesAfter: BigInt(size.after),
            sparseSizeBytesAfter: BigInt(size.sparseAfter),
            keptSizeBytesAfter: BigInt(size.keptAfter),
          };
        });
      });
    },
  });
}
