// gap_native: oneDNN kernels for the TensorFlow.js wasm backend, working in
// place on the wasm heap (an ArrayBuffer) at byte offsets the caller gives.
// No copies: every tensor is wrapped as a dnnl::memory over heap memory.
//
// Layouts are tfjs's: activations NHWC (oneDNN tag nhwc over logical NCHW),
// conv filters HWIO (tag hwio over logical OIHW).
//
// Exports (all synchronous; arguments are numbers unless said otherwise):
// (The codes and parameter arrays are named in gap_native.h: ConvKind, Activation,
// BinaryOp, conv_param, pool_param, matmul_param; info().contract lists them.)
//   conv2d(kind, heap, a, b, out, p)   kForward (0):       y  = conv(x@a, w@b)
//                                      kInputGradient (1):  dx = conv_bwd_data(dy@a, w@b)
//                                      kFilterGradient (2): dw = conv_bwd_weights(x@a, dy@b)
//      p: [N, H, W, Ci, KH, KW, Co, OH, OW, sH, sW, dH, dW, padT, padL, padB, padR, groups]
//      groups = Ci: depthwise, w is tfjs's [KH, KW, Ci, Co / Ci]
//   conv2dFused(heap, x, w, scale, offset, mean, var, eps, residual|-1, y, wFolded, p, activation)
//      inference batch norm folded into the conv (groups 1 or depthwise):
//      wFolded = w * a (an output), y = conv(x, wFolded) + offset - mean * a
//      (+ residual), then activation 1: max(0, .), 2: min(max(0, .), 6);
//      a = scale / sqrt(var + eps); one oneDNN inference primitive with the
//      add (sum) and the activation as post-ops
//   batchNormInference(heap, x, mean|-1, var, scale|-1, shift|-1, y, N, H, W, C, eps, relu, mask|-1)
//      one OpenMP pass y = x * a[c] + b[c] (not oneDNN: see below); relu != 0:
//      y = max(0, ...) (fused BN + ReLU); mask: x is first multiplied by
//      step(mask) (the fused BN + ReLU's input gradient, mask = its output)
//   batchNormTrain(heap, x, scale, shift, y, mean, var, N, H, W, C, eps, relu)
//      mean/var are outputs (biased variance); scale/shift required. Plain
//      OpenMP loops (see below), not oneDNN. relu != 0: y = max(0, ...).
//   batchNormBackward(heap, x, dy, mean, var, scale, dx, dscale, dshift, N, H, W, C, eps, mask|-1)
//      mask: dy is first multiplied by step(mask) (mask = the fused BN + ReLU's output)
//   binary(op, heap, a, b, out, rows, C, aFull, bFull)   elementwise / per-channel
//      (op 6: relu(a + b), the residual add + ReLU, same shapes)
//   reluGrad(heap, dy, x, dx, n)
//   dropout(heap, x, y, n, rate, seed)   y = x * (hash(seed, i) >= rate ? 1 / (1 - rate) : 0)
//   fakeQuantize(heap, x, y, n, scale, zeroPoint, qmin, qmax)
//      y = (clamp(round(x / scale) + zp, qmin, qmax) - zp) * scale (fakeQuantize in fused-ops.ts, bit for bit)
//   channelSum(heap, x, out, rows, C)   out[c] = sum over rows of x[r, c] (in double)
//   sgd(heap, w, grad, buf|-1, wOut, bufOut|-1, n, lr, momentum, weightDecay, nesterov)
//      one torch.optim.SGD step of one parameter (sgdUpdate in fused-ops.ts, bit for bit)
//   batchNormUpdate(heap, runMean, runVar, mean, var, runMeanOut, runVarOut, C, momentum)
//      the running statistics' update (blendRunningStats in fused-ops.ts, bit for bit)
//   relu6Grad(heap, dy, x, dx, n)   dx = dy * (0 < x <= 6), tfjs's ReLU6 gradient
//   relu6OutputGrad(heap, dy, y, dx, n)   dx = dy * (0 < y < 6), from ReLU6's output
//   matmul(heap, a, b, c, [B, M, K, N, transposeA, transposeB])   batched row-major matmul
//   maxPool(heap, x, y, [N, H, W, C, OH, OW, KH, KW, sH, sW, padT, padL])   max over each window
//   maxPoolGrad(heap, dy, x, dx, [N, H, W, C, OH, OW, KH, KW, sH, sW, padT, padL])
//      dx of a max pool: each window's dy goes to its first maximum (row-major)
//   pad4(heap, x, y, shape[4], before[4], after[4], value)   float32, rank <= 4
//   slice4(heap, x, y, shape[4], begin[4], size[4])   4-byte elements, rank <= 4
//   info() -> { version, isa, threads, cached, contract }

//
// One file per kernel family (conv.cc, pooling.cc, batch_norm.cc, elementwise.cc,
// copies.cc, reductions.cc), the shared glue in gap_native.h and common.cc; this file registers
// the exports.
#include "gap_native.h"

namespace gap {

// ------------------------------------------------------------------- info

// { name: code, ... } and [field names in index order], for info().contract.
napi_value codes(napi_env env, std::initializer_list<std::pair<const char*, int>> entries) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  for (const auto& [name, code] : entries) {
    napi_create_int32(env, code, &v);
    napi_set_named_property(env, obj, name, v);
  }
  return obj;
}
napi_value fields(napi_env env, std::initializer_list<const char*> names) {
  napi_value arr, v;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (const char* name : names) {
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, arr, i++, v);
  }
  return arr;
}

// The contract of gap_native.h, as the TypeScript side names it (addon.ts).
napi_value contract(napi_env env) {
  napi_value obj;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "convDirection", codes(env, {{"forward", kForward}, {"inputGradient", kInputGradient}, {"filterGradient", kFilterGradient}}));
  napi_set_named_property(env, obj, "activation", codes(env, {{"none", kNoActivation}, {"relu", kRelu}, {"relu6", kRelu6}}));
  napi_set_named_property(env, obj, "binaryOp", codes(env, {{"add", kAdd}, {"sub", kSub}, {"mul", kMul}, {"div", kDiv}, {"min", kMin}, {"max", kMax}, {"addRelu", kAddRelu}}));
  napi_set_named_property(env, obj, "convParams", fields(env, {GAP_CONV_PARAMS(GAP_PARAM_NAME)}));
  napi_set_named_property(env, obj, "poolParams", fields(env, {GAP_POOL_PARAMS(GAP_PARAM_NAME)}));
  napi_set_named_property(env, obj, "matMulParams", fields(env, {GAP_MATMUL_PARAMS(GAP_PARAM_NAME)}));
  return obj;
}

napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value obj, v;
    napi_create_object(env, &obj);
    const dnnl_version_t* ver = dnnl_version();
    std::string version = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
    napi_create_string_utf8(env, version.c_str(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, obj, "version", v);
    const char* isa = "unknown";
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::sse41: isa = "sse41"; break;
      case dnnl::cpu_isa::avx: isa = "avx"; break;
      case dnnl::cpu_isa::avx2: isa = "avx2"; break;
      case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
      case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
      case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
      case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
      default: break;
    }
    napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, obj, "isa", v);
    napi_create_int32(env, omp_get_max_threads(), &v);
    napi_set_named_property(env, obj, "threads", v);
    napi_create_uint32(env, static_cast<uint32_t>(convCacheSize()), &v);
    napi_set_named_property(env, obj, "cached", v);
    napi_set_named_property(env, obj, "contract", contract(env));
    return obj;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dFused", nullptr, Conv2dFused, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPool", nullptr, MaxPool, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"relu6Grad", nullptr, Relu6Grad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"relu6OutputGrad", nullptr, Relu6OutputGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormInference", nullptr, BatchNormInference, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormTrain", nullptr, BatchNormTrain, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"reluGrad", nullptr, ReluGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"channelSum", nullptr, ChannelSum, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"dropout", nullptr, Dropout, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"fakeQuantize", nullptr, FakeQuantize, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sgd", nullptr, Sgd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormUpdate", nullptr, BatchNormUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pad4", nullptr, Pad4, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"slice4", nullptr, Slice4, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace gap

NAPI_MODULE(NODE_GYP_MODULE_NAME, gap::Init)
