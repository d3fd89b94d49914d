// gap_native: oneDNN kernels for the TensorFlow.js wasm backend, working in
// place on the wasm heap (an ArrayBuffer) at byte offsets the caller gives.
// No copies: every tensor is wrapped as a dnnl::memory over heap memory.
//
// Layouts are tfjs's: activations NHWC (oneDNN tag nhwc over logical NCHW),
// conv filters HWIO (tag hwio over logical OIHW).
//
// Exports: the functions of gap_native.h, named in Init below, all synchronous;
// each one's arguments (numbers unless said otherwise) stand above its definition
// in its family's file, and the codes and parameter arrays are named in
// gap_native.h (ConvKind, Activation, BinaryOp, conv_param, pool_param,
// matmul_param), which info() -> { version, isa, threads, cached, contract } lists.
// One file per kernel family (conv.cc, batch_norm.cc, elementwise.cc, pooling.cc,
// reductions.cc with the matmul, optimizer.cc, dropout.cc, copies.cc), the shared
// glue in gap_native.h and common.cc; this file registers the exports.
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
    napi_create_uint32(env, static_cast<uint32_t>(convWinogradCount()), &v);
    napi_set_named_property(env, obj, "winograd", v);
    napi_create_uint32(env, static_cast<uint32_t>(conv3x3Calls()), &v);
    napi_set_named_property(env, obj, "conv3x3Calls", v);
    napi_set_named_property(env, obj, "contract", contract(env));
    return obj;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dFused", nullptr, Conv2dFused, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"foldFilter", nullptr, FoldFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
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
      {"sign", nullptr, Sign, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sgd", nullptr, Sgd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormUpdate", nullptr, BatchNormUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pad4", nullptr, Pad4, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"slice4", nullptr, Slice4, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"concatRows", nullptr, ConcatRows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace gap

NAPI_MODULE(NODE_GYP_MODULE_NAME, gap::Init)
