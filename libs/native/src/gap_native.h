// gap_native: what every kernel file shares (the N-API glue, oneDNN's engine and
// stream, tfjs's ReLU semantics) and the functions module.cc exports. The
// exports and their arguments are listed in module.cc.
#pragma once

#include <node_api.h>

#include <dnnl.hpp>
#include <omp.h>

#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace gap {

// The contract with libs/ml-core/src/runtime/native/addon.ts: the codes and the
// fields of the parameter arrays, by name. info().contract lists them, and a test
// compares them with the TypeScript side.
enum ConvKind : int {  // conv2d's first argument; kFusedForward is conv2dFused's primitive
  kForward = 0,
  kInputGradient = 1,
  kFilterGradient = 2,
  kFusedForward = 3,
};
enum Activation : int { kNoActivation = 0, kRelu = 1, kRelu6 = 2 };
enum BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMin = 4, kMax = 5, kAddRelu = 6 };
// The fields of each parameter array, in order: one list gives both the indices
// (conv_param::N, ...) and the names info().contract reports.
#define GAP_CONV_PARAMS(F) \
  F(N) F(H) F(W) F(Ci) F(KH) F(KW) F(Co) F(OH) F(OW) F(strideH) F(strideW) F(dilationH) F(dilationW) F(padTop) F(padLeft) F(padBottom) F(padRight) F(groups)
#define GAP_POOL_PARAMS(F) F(N) F(H) F(W) F(C) F(OH) F(OW) F(KH) F(KW) F(strideH) F(strideW) F(padTop) F(padLeft)
#define GAP_MATMUL_PARAMS(F) F(batch) F(M) F(K) F(N) F(transposeA) F(transposeB)
#define GAP_PARAM_INDEX(name) name,
#define GAP_PARAM_NAME(name) #name,
// Indices into conv2d's and conv2dFused's p.
namespace conv_param {
enum : int { GAP_CONV_PARAMS(GAP_PARAM_INDEX) count };
}
// Indices into maxPool's and maxPoolGrad's p.
namespace pool_param {
enum : int { GAP_POOL_PARAMS(GAP_PARAM_INDEX) count };
}
// Indices into matmul's p.
namespace matmul_param {
enum : int { GAP_MATMUL_PARAMS(GAP_PARAM_INDEX) count };
}

dnnl::engine& eng();
dnnl::stream& strm();

// Transparent huge pages for the wasm heap, once per heap size: first touches
// of new heap memory then fault 2 MiB at a time, not 4 KiB.
void adviseHugePages(uint8_t* heap, size_t len);

struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  napi_env env;
  std::vector<napi_value> v;
  uint8_t* heap = nullptr;
  size_t heapLen = 0;

  Args(napi_env e, napi_callback_info info, size_t expected) : env(e), v(expected) {
    size_t argc = expected;
    napi_get_cb_info(env, info, &argc, v.data(), nullptr, nullptr);
    if (argc != expected) throw ArgError("expected " + std::to_string(expected) + " arguments");
  }
  double num(size_t i) {
    double d;
    if (napi_get_value_double(env, v[i], &d) != napi_ok) throw ArgError("argument " + std::to_string(i) + " is not a number");
    return d;
  }
  int64_t integer(size_t i) { return static_cast<int64_t>(num(i)); }
  void takeHeap(size_t i) {
    void* data = nullptr;
    bool isAb = false;
    napi_is_arraybuffer(env, v[i], &isAb);
    if (!isAb || napi_get_arraybuffer_info(env, v[i], &data, &heapLen) != napi_ok) {
      throw ArgError("argument " + std::to_string(i) + " is not an ArrayBuffer");
    }
    heap = static_cast<uint8_t*>(data);
    adviseHugePages(heap, heapLen);
  }
  // Pointer to `count` floats at byte offset `off` of the heap, bounds-checked.
  float* at(int64_t off, int64_t count) {
    if (off < 0 || (off & 3) != 0 || count < 0 || static_cast<uint64_t>(off) + 4ull * count > heapLen) {
      throw ArgError("tensor at byte offset " + std::to_string(off) + " (" + std::to_string(count) +
                     " floats) is outside the heap of " + std::to_string(heapLen) + " bytes");
    }
    return reinterpret_cast<float*>(heap + off);
  }
  // The same for an optional input, whose offset -1 means absent (nullptr).
  float* optional(size_t i, int64_t count) { return integer(i) < 0 ? nullptr : at(integer(i), count); }
  std::vector<int64_t> intArray(size_t i, size_t n) {
    uint32_t len = 0;
    if (napi_get_array_length(env, v[i], &len) != napi_ok || len != n) {
      throw ArgError("argument " + std::to_string(i) + " must be an array of " + std::to_string(n) + " numbers");
    }
    std::vector<int64_t> out(n);
    for (uint32_t k = 0; k < n; k++) {
      napi_value e;
      napi_get_element(env, v[i], k, &e);
      double d;
      if (napi_get_value_double(env, e, &d) != napi_ok) throw ArgError("non-numeric array element");
      out[k] = static_cast<int64_t>(d);
    }
    return out;
  }
};

napi_value undefinedValue(napi_env env);

template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, "GAP_NATIVE_DNNL", (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, "GAP_NATIVE", e.what());
  }
  return nullptr;
}

// An export's frame: its argc arguments (the heap's ArrayBuffer at heapArg), any
// error thrown to JS by guarded, undefined returned.
template <typename F>
napi_value exported(napi_env env, napi_callback_info info, size_t argc, size_t heapArg, F&& body) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, argc);
    a.takeHeap(heapArg);
    body(a);
    return undefinedValue(env);
  });
}

// ReLU's gradient factor for the fused BN + ReLU: dy * stepOf(relu output) is
// bit for bit GapReluGrad's dy * step(x), except that a NaN output gives 0, not
// NaN (the forward already put the NaN in the loss): the NaN select made the
// masked batch-norm backward slower than a separate GapReluGrad pass.
inline float stepOf(float m) { return m > 0.0f ? 1.0f : 0.0f; }
// tfjs's ReLU (wasm: x < 0 ? 0 : x, NaN kept).
inline float reluOf(float v) { return v < 0.0f ? 0.0f : v; }

// c = op(a) op(b), batched, for matmul_param p (reductions.cc; conv.cc's 1x1 convs too).
void matmul(const float* a, const float* b, float* c, const std::vector<int64_t>& p);

// Per-channel sums (and sums of squares unless sumSq is null) over rows, in
// double (batch_norm.cc; the Sum kernel in reductions.cc too).
void channelMoments(const float* x, double* sum, double* sumSq, int64_t rows, int64_t C);

// conv3x3.cc: our own kernel for 3x3, stride-1, padding-1 convs onto 16 or 32 channels
// (from a multiple of 16 channels, or fewer than 16).
// Whether conv direction `kind` (ConvKind) with conv_param p runs on it.
bool conv3x3Fits(int kind, const std::vector<int64_t>& p);
// y = activation(conv(x, w) + bias + residual), nhwc and hwio; bias and residual may be null.
void conv3x3(const float* x, const float* w, const float* bias, const float* residual, float* y, int64_t N, int64_t H, int64_t W,
             int64_t Ci, int64_t Co, int activation);
// The input gradient of conv(x, w), x [N, H, W, Ci], w [3, 3, Ci, Co].
void conv3x3InputGradient(const float* dy, const float* w, float* dx, int64_t N, int64_t H, int64_t W, int64_t Ci, int64_t Co);
uint64_t conv3x3Calls();  // calls so far (info()'s `conv3x3Calls`)

// The exports (module.cc), by kernel family.
// conv.cc
napi_value Conv2d(napi_env env, napi_callback_info info);
napi_value Conv2dFused(napi_env env, napi_callback_info info);
napi_value FoldFilter(napi_env env, napi_callback_info info);
// batch_norm.cc
napi_value BatchNormInference(napi_env env, napi_callback_info info);
napi_value BatchNormTrain(napi_env env, napi_callback_info info);
napi_value BatchNormBackward(napi_env env, napi_callback_info info);
napi_value BatchNormUpdate(napi_env env, napi_callback_info info);
// elementwise.cc
napi_value Binary(napi_env env, napi_callback_info info);
napi_value ReluGrad(napi_env env, napi_callback_info info);
napi_value Relu6Grad(napi_env env, napi_callback_info info);
napi_value Relu6OutputGrad(napi_env env, napi_callback_info info);
napi_value FakeQuantize(napi_env env, napi_callback_info info);
napi_value Sign(napi_env env, napi_callback_info info);
// pooling.cc
napi_value MaxPool(napi_env env, napi_callback_info info);
napi_value MaxPoolGrad(napi_env env, napi_callback_info info);
// reductions.cc (with the matmul)
napi_value ChannelSum(napi_env env, napi_callback_info info);
napi_value MatMul(napi_env env, napi_callback_info info);
// optimizer.cc
napi_value Sgd(napi_env env, napi_callback_info info);
// dropout.cc
napi_value Dropout(napi_env env, napi_callback_info info);
// copies.cc
napi_value Slice4(napi_env env, napi_callback_info info);
napi_value Pad4(napi_env env, napi_callback_info info);
napi_value ConcatRows(napi_env env, napi_callback_info info);
// Primitives cached by conv.cc (info()'s `cached`).
size_t convCacheSize();
size_t convWinogradCount();  // cached conv primitives that run the Winograd algorithm

}  // namespace gap
