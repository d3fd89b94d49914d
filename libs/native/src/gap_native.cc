// gap_native: oneDNN kernels for the TensorFlow.js wasm backend, working in
// place on the wasm heap (an ArrayBuffer) at byte offsets the caller gives.
// No copies: every tensor is wrapped as a dnnl::memory over heap memory.
//
// Layouts are tfjs's: activations NHWC (oneDNN tag nhwc over logical NCHW),
// conv filters HWIO (tag hwio over logical OIHW).
//
// Exports (all synchronous; arguments are numbers unless said otherwise):
//   conv2d(kind, heap, a, b, out, p)   kind 0: y  = conv(x@a, w@b)
//                                      kind 1: dx = conv_bwd_data(dy@a, w@b)
//                                      kind 2: dw = conv_bwd_weights(x@a, dy@b)
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
//   channelSum(heap, x, out, rows, C)   out[c] = sum over rows of x[r, c] (in double)
//   sgd(heap, w, grad, buf|-1, wOut, bufOut|-1, n, lr, momentum, weightDecay, nesterov)
//      one torch.optim.SGD step of one parameter (train/sgd.ts, bit for bit)
//   batchNormUpdate(heap, runMean, runVar, mean, var, runMeanOut, runVarOut, C, momentum)
//      the running statistics' update (BatchNorm.update, bit for bit)
//   relu6Grad(heap, dy, x, dx, n)   dx = dy * (0 < x <= 6), tfjs's ReLU6 gradient
//   relu6OutputGrad(heap, dy, y, dx, n)   dx = dy * (0 < y < 6), from ReLU6's output
//   matmul(heap, a, b, c, [B, M, K, N, transposeA, transposeB])   batched row-major matmul
//   maxPool(heap, x, y, [N, H, W, C, OH, OW, KH, KW, sH, sW, padT, padL])   max over each window
//   maxPoolGrad(heap, dy, x, dx, [N, H, W, C, OH, OW, KH, KW, sH, sW, padT, padL])
//      dx of a max pool: each window's dy goes to its first maximum (row-major)
//   pad4(heap, x, y, shape[4], before[4], after[4], value)   float32, rank <= 4
//   slice4(heap, x, y, shape[4], begin[4], size[4])   4-byte elements, rank <= 4
//   info() -> { version, isa, threads, cached }
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

namespace {

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& strm() {
  static dnnl::stream s(eng());
  return s;
}

// ---------------------------------------------------------------- N-API glue

// Transparent huge pages for the wasm heap, once per heap size: first touches
// of new heap memory then fault 2 MiB at a time, not 4 KiB.
void adviseHugePages(uint8_t* heap, size_t len) {
  static uint8_t* advisedHeap = nullptr;
  static size_t advisedLen = 0;
  if (heap == advisedHeap && len == advisedLen) return;
  advisedHeap = heap;
  advisedLen = len;
  const uintptr_t huge = 2u << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(heap) + huge - 1) & ~(huge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(heap) + len) & ~(huge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

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

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

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

// ------------------------------------------------------------- convolutions

// An x- or y-shaped activation in the primitive's own layout when that is not
// the user's nhwc (see activationLayout): a buffer and the reorders into and out of it.
struct Staging {
  std::unique_ptr<memory> buf;  // null: the primitive reads and writes nhwc itself
  dnnl::reorder in, out;

  void init(const memory::desc& primMd, const memory::desc& userMd) {
    if (primMd == userMd) return;
    buf = std::make_unique<memory>(primMd, eng());
    memory user(userMd, eng(), DNNL_MEMORY_NONE);  // placeholder; bound per call
    in = dnnl::reorder(user, *buf);
    out = dnnl::reorder(*buf, user);
  }
  // What the primitive gets for `user`; fill: copy user's values in first.
  memory& view(memory& user, bool fill) {
    if (!buf) return user;
    if (fill) in.execute(strm(), user, *buf);
    return *buf;
  }
  // Copies the primitive's result back to `user`.
  void back(memory& user) {
    if (buf) out.execute(strm(), *buf, user);
  }
};

struct ConvEntry {
  // Forward hint (also the forward primitive for kind 0).
  dnnl::convolution_forward::primitive_desc fwdPd;
  dnnl::primitive prim;
  memory::desc weiMd;                // as the primitive wants it
  memory::desc userWeiMd;            // hwio
  memory::desc userSrcMd, userDstMd; // nhwc
  Staging src, dst;                  // x-shaped (x, dx) and y-shaped (y, dy) activations
  std::unique_ptr<memory> weiBuf;    // reordered weights (kinds 0/1) or diff weights (kind 2), if not hwio
  dnnl::reorder weiReorder;
  bool weiNeedsReorder = false;
  // Small weights: weiBuf offset of each user (hwio) element, for reordering
  // by hand (see reorderWeights); empty: oneDNN's reorder.
  std::vector<int64_t> weiOffsets;
};

// Offset of every element of a blocked (plain or blocked-format) layout,
// indexed by the logical index in row-major order. A blocked offset is a sum
// of one term per dimension: (x / inner block product) * stride plus x's
// position inside each inner block of that dimension.
std::vector<int64_t> blockedOffsets(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked) return {};
  const auto& b = d.format_desc.blocking;
  const int nd = d.ndims;
  std::vector<std::vector<int64_t>> term(nd);
  for (int k = 0; k < nd; k++) {
    int64_t innerProduct = 1;
    for (int j = 0; j < b.inner_nblks; j++)
      if (b.inner_idxs[j] == k) innerProduct *= b.inner_blks[j];
    for (int64_t x = 0; x < d.dims[k]; x++) {
      int64_t t = (x / innerProduct) * b.strides[k];
      for (int j = 0; j < b.inner_nblks; j++) {
        if (b.inner_idxs[j] != k) continue;
        int64_t below = 1, after = 1;
        for (int q = j + 1; q < b.inner_nblks; q++) {
          after *= b.inner_blks[q];
          if (b.inner_idxs[q] == k) below *= b.inner_blks[q];
        }
        t += ((x / below) % b.inner_blks[j]) * after;
      }
      term[k].push_back(t);
    }
  }
  int64_t count = 1;
  for (int k = 0; k < nd; k++) count *= d.dims[k];
  std::vector<int64_t> out(count);
  std::vector<int64_t> idx(nd, 0);
  for (int64_t n = 0; n < count; n++) {
    int64_t off = d.offset0;
    for (int k = 0; k < nd; k++) off += term[k][idx[k]];
    out[n] = off;
    for (int k = nd - 1; k >= 0 && ++idx[k] == d.dims[k]; k--) idx[k] = 0;
  }
  return out;
}

// The activation layout a conv primitive runs on; anything but nhwc is staged
// from and to the user's nhwc (reorders included in the timings below, per
// 128 images, oneDNN 2.6, AVX-512).
// - Blocked nChw16c: the forward and input-gradient 3x3 convs of small images
//   with many channels (VGG's last blocks): 4x4x512 -> 512 inference conv
//   45 -> 30 ms, training forward 43 -> 30 ms, input gradient 30-38 -> 25 ms.
//   Not for 4x4x256 -> 256, MobileNetV2's 1x1 4x4x320 -> 1280, or any filter
//   gradient: there nhwc (brgconv) was as fast or faster.
// - Plain nchw (oneDNN's gemm): the input gradient of a large filter over a
//   few input channels (GoogLeNet's 7x7 stem, PGD's gradient wrt the image):
//   10.6 -> 5.3 ms. For 3x3 stems over 3 channels nhwc was as fast or faster.
tag activationLayout(int kind, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t Ci, int64_t Co, int64_t G) {
  if (G != 1 || kind == 2) return tag::nhwc;
  if (KH * KW > 1 && H * W <= 16 && Ci >= 256 && Co >= 512) return tag::nChw16c;
  if (kind == 1 && Ci < 16 && KH * KW >= 25) return tag::nchw;
  return tag::nhwc;
}

std::unordered_map<std::string, std::unique_ptr<ConvEntry>>& convCache() {
  static std::unordered_map<std::string, std::unique_ptr<ConvEntry>> c;
  return c;
}

// kind 3: the fused inference forward (bias, then optional residual add and ReLU post-ops).
// activation (kind 3): 0 none, 1 ReLU, 2 ReLU6.
ConvEntry& convEntry(int kind, const std::vector<int64_t>& p, bool residual = false, int activation = 0) {
  std::ostringstream key;
  key << kind << (residual ? 'r' : '-') << activation;
  for (auto x : p) key << ',' << x;
  auto& cache = convCache();
  auto it = cache.find(key.str());
  if (it != cache.end()) return *it->second;

  const int64_t N = p[0], H = p[1], W = p[2], Ci = p[3], KH = p[4], KW = p[5], Co = p[6], OH = p[7], OW = p[8];
  const int64_t sH = p[9], sW = p[10], dH = p[11], dW = p[12], pT = p[13], pL = p[14], pB = p[15], pR = p[16];
  // Groups G > 1: a depthwise conv (G = Ci), tfjs filter [KH, KW, Ci, Co / Ci] = oneDNN's hwigo.
  const int64_t G = p[17];
  if (G < 1 || Ci % G != 0 || Co % G != 0) throw ArgError("conv groups must divide both channel counts");
  memory::dims srcDims{N, Ci, H, W}, dstDims{N, Co, OH, OW};
  memory::dims weiDims = G == 1 ? memory::dims{Co, Ci, KH, KW} : memory::dims{G, Co / G, Ci / G, KH, KW};
  memory::dims strides{sH, sW}, dil{dH - 1, dW - 1}, padL{pT, pL}, padR{pB, pR};

  auto e = std::make_unique<ConvEntry>();
  e->userSrcMd = memory::desc(srcDims, dt::f32, tag::nhwc);
  e->userDstMd = memory::desc(dstDims, dt::f32, tag::nhwc);
  e->userWeiMd = memory::desc(weiDims, dt::f32, G == 1 ? tag::hwio : tag::hwigo);
  memory::desc anyWei(weiDims, dt::f32, tag::any);
  // A fixed layout, not tag::any: for inference oneDNN then picks nhwc brgconv, the slower one here.
  const tag layout = activationLayout(kind, H, W, KH, KW, Ci, Co, G);
  const memory::desc srcMd(srcDims, dt::f32, layout), dstMd(dstDims, dt::f32, layout);

  dnnl::convolution_forward::desc fwdDesc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                          srcMd, anyWei, dstMd, strides, dil, padL, padR);
  e->fwdPd = dnnl::convolution_forward::primitive_desc(fwdDesc, eng());
  if (kind == 3) {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      srcMd, anyWei, memory::desc({Co}, dt::f32, tag::a), dstMd, strides, dil, padL,
                                      padR);
    dnnl::post_ops ops;
    // A sum post-op over y pre-filled with the residual: with a binary add
    // post-op oneDNN 2.6 drops from brgconv to a slower jit kernel.
    if (residual) ops.append_sum(1.0f);
    if (activation == 1) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    if (activation == 2) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    e->fwdPd = dnnl::convolution_forward::primitive_desc(d, attr, eng());
  }
  if (kind == 0 || kind == 3) {
    e->prim = dnnl::convolution_forward(e->fwdPd);
    e->weiMd = e->fwdPd.weights_desc();
    e->src.init(e->fwdPd.src_desc(), e->userSrcMd);
    e->dst.init(e->fwdPd.dst_desc(), e->userDstMd);
  } else if (kind == 1) {
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, srcMd, anyWei, dstMd, strides, dil,
                                            padL, padR);
    dnnl::convolution_backward_data::primitive_desc pd(d, eng(), e->fwdPd);
    e->prim = dnnl::convolution_backward_data(pd);
    e->weiMd = pd.weights_desc();
    e->src.init(pd.diff_src_desc(), e->userSrcMd);
    e->dst.init(pd.diff_dst_desc(), e->userDstMd);
  } else {
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, srcMd, anyWei, dstMd, strides,
                                               dil, padL, padR);
    dnnl::convolution_backward_weights::primitive_desc pd(d, eng(), e->fwdPd);
    e->prim = dnnl::convolution_backward_weights(pd);
    e->weiMd = pd.diff_weights_desc();
    e->src.init(pd.src_desc(), e->userSrcMd);
    e->dst.init(pd.diff_dst_desc(), e->userDstMd);
  }
  e->weiNeedsReorder = e->weiMd != e->userWeiMd;
  if (e->weiNeedsReorder) {
    e->weiBuf = std::make_unique<memory>(e->weiMd, eng());
    const std::vector<int64_t> blocked = blockedOffsets(e->weiMd), user = blockedOffsets(e->userWeiMd);
    if (!blocked.empty() && !user.empty() && user.size() <= (1u << 18)) {
      // Zero padding (channel counts rounded up to the block) stays zero: only
      // the logical elements are ever written.
      std::memset(e->weiBuf->get_data_handle(), 0, e->weiMd.get_size());
      e->weiOffsets.assign(user.size(), 0);
      for (size_t n = 0; n < user.size(); n++) e->weiOffsets[user[n]] = blocked[n];
    }
    // Placeholder handles; real pointers are bound per call.
    memory userW(e->userWeiMd, eng(), DNNL_MEMORY_NONE);
    if (kind == 2) {
      e->weiReorder = dnnl::reorder(*e->weiBuf, userW);
    } else {
      e->weiReorder = dnnl::reorder(userW, *e->weiBuf);
    }
  }
  auto& ref = *e;
  cache.emplace(key.str(), std::move(e));
  return ref;
}

// The conv parameter array p (see conv2d above) at argument `index`, checked,
// with the element counts of x, w and y.
struct ConvSizes {
  std::vector<int64_t> p;
  int64_t x, w, y;
};
ConvSizes convSizes(Args& a, size_t index) {
  auto p = a.intArray(index, 18);
  for (auto v : p)
    if (v < 0) throw ArgError("negative conv parameter");
  if (p[17] < 1) throw ArgError("conv groups must be >= 1");
  const int64_t N = p[0], H = p[1], W = p[2], Ci = p[3], KH = p[4], KW = p[5], Co = p[6], OH = p[7], OW = p[8];
  return {p, N * H * W * Ci, KH * KW * Ci * Co / p[17], N * OH * OW * Co};
}

// Weights between the user's hwio and the primitive's blocked layout. oneDNN's
// reorder took 0.1-0.35 ms for ResNet20's 2-37K weights (~6% of an evaluation
// pass); by hand, through the offset table, it is a few microseconds.
void reorderWeights(ConvEntry& e, memory& from, memory& to) {
  if (e.weiOffsets.empty()) {
    e.weiReorder.execute(strm(), from, to);
    return;
  }
  const float* src = static_cast<const float*>(from.get_data_handle());
  float* dst = static_cast<float*>(to.get_data_handle());
  const int64_t* off = e.weiOffsets.data();
  const int64_t n = static_cast<int64_t>(e.weiOffsets.size());
  if (&to == e.weiBuf.get()) {
    for (int64_t i = 0; i < n; i++) dst[off[i]] = src[i];
  } else {
    for (int64_t i = 0; i < n; i++) dst[i] = src[off[i]];
  }
}

napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    const int kind = static_cast<int>(a.integer(0));
    if (kind < 0 || kind > 2) throw ArgError("conv2d kind must be 0, 1 or 2");
    a.takeHeap(1);
    const ConvSizes z = convSizes(a, 5);
    const int64_t xCount = z.x, wCount = z.w, yCount = z.y;
    ConvEntry& e = convEntry(kind, z.p);
    auto& s = strm();
    if (kind == 0) {
      float* x = a.at(a.integer(2), xCount);
      float* w = a.at(a.integer(3), wCount);
      float* y = a.at(a.integer(4), yCount);
      memory xm(e.userSrcMd, eng(), x), wm(e.userWeiMd, eng(), w), ym(e.userDstMd, eng(), y);
      if (e.weiNeedsReorder) reorderWeights(e, wm, *e.weiBuf);
      e.prim.execute(s, {{DNNL_ARG_SRC, e.src.view(xm, true)},
                         {DNNL_ARG_WEIGHTS, e.weiNeedsReorder ? *e.weiBuf : wm},
                         {DNNL_ARG_DST, e.dst.view(ym, false)}});
      e.dst.back(ym);
    } else if (kind == 1) {
      float* dy = a.at(a.integer(2), yCount);
      float* w = a.at(a.integer(3), wCount);
      float* dx = a.at(a.integer(4), xCount);
      memory dym(e.userDstMd, eng(), dy), wm(e.userWeiMd, eng(), w), dxm(e.userSrcMd, eng(), dx);
      if (e.weiNeedsReorder) reorderWeights(e, wm, *e.weiBuf);
      e.prim.execute(s, {{DNNL_ARG_DIFF_DST, e.dst.view(dym, true)},
                         {DNNL_ARG_WEIGHTS, e.weiNeedsReorder ? *e.weiBuf : wm},
                         {DNNL_ARG_DIFF_SRC, e.src.view(dxm, false)}});
      e.src.back(dxm);
    } else {
      float* x = a.at(a.integer(2), xCount);
      float* dy = a.at(a.integer(3), yCount);
      float* dw = a.at(a.integer(4), wCount);
      memory xm(e.userSrcMd, eng(), x), dym(e.userDstMd, eng(), dy), dwm(e.userWeiMd, eng(), dw);
      e.prim.execute(s, {{DNNL_ARG_SRC, e.src.view(xm, true)},
                         {DNNL_ARG_DIFF_DST, e.dst.view(dym, true)},
                         {DNNL_ARG_DIFF_WEIGHTS, e.weiNeedsReorder ? *e.weiBuf : dwm}});
      if (e.weiNeedsReorder) reorderWeights(e, *e.weiBuf, dwm);
    }
    s.wait();
    return undefinedValue(env);
  });
}

// wFolded[r, o] = w[r, o] * k[o] (in double, rounded once), over rows of Co
// output channels. One pass per row without an index modulo, on all threads:
// as a per-element i % Co loop it took ~5 ms for VGG's 2.4M-weight convs.
void foldWeights(const float* w, const double* k, float* wFolded, int64_t rows, int64_t Co) {
#pragma omp parallel for schedule(static) if (rows * Co > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const float* wr = w + r * Co;
    float* fr = wFolded + r * Co;
#pragma omp simd
    for (int64_t o = 0; o < Co; o++) fr[o] = static_cast<float>(wr[o] * k[o]);
  }
}

// The batch-norm fold of PyTorch's fuse_conv_bn_weights, in double:
// w' = w * a, b' = offset - mean * a, a = scale / sqrt(var + eps) per output
// channel (hwio: the output channel is the innermost index).
napi_value Conv2dFused(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 13);
    a.takeHeap(0);
    const ConvSizes z = convSizes(a, 11);
    const auto& p = z.p;
    if (p[17] != 1 && p[17] != p[3]) throw ArgError("the fused conv takes groups 1 or depthwise");
    const int64_t Co = p[6], xCount = z.x, wCount = z.w, yCount = z.y;
    const int64_t activation = a.integer(12);
    if (activation < 0 || activation > 2) throw ArgError("activation must be 0 (none), 1 (ReLU) or 2 (ReLU6)");
    const float* w = a.at(a.integer(2), wCount);
    const float* scale = a.at(a.integer(3), Co);
    const float* offset = a.at(a.integer(4), Co);
    const float* mean = a.at(a.integer(5), Co);
    const float* var = a.at(a.integer(6), Co);
    const double eps = a.num(7);
    const int64_t residualOff = a.integer(8);
    float* wFolded = a.at(a.integer(10), wCount);
    std::vector<double> k(Co);
    std::vector<float> bias(Co);
    for (int64_t o = 0; o < Co; o++) {
      k[o] = scale[o] / std::sqrt(static_cast<double>(var[o]) + eps);
      bias[o] = static_cast<float>(offset[o] - mean[o] * k[o]);
    }
    // hwio and depthwise [KH, KW, Ci, multiplier] alike: rows of Co output channels.
    foldWeights(w, k.data(), wFolded, wCount / Co, Co);

    ConvEntry& e = convEntry(3, p, residualOff >= 0, static_cast<int>(activation));
    auto& s = strm();
    memory xm(e.userSrcMd, eng(), a.at(a.integer(1), xCount)), wm(e.userWeiMd, eng(), wFolded);
    memory bm(memory::desc({Co}, dt::f32, tag::a), eng(), bias.data());
    memory ym(e.userDstMd, eng(), a.at(a.integer(9), yCount));
    if (e.weiNeedsReorder) reorderWeights(e, wm, *e.weiBuf);
    if (residualOff >= 0) {
      const float* residual = a.at(residualOff, yCount);
      float* y = static_cast<float*>(ym.get_data_handle());
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < yCount; i++) y[i] = residual[i];
    }
    e.prim.execute(s, {{DNNL_ARG_SRC, e.src.view(xm, true)},
                       {DNNL_ARG_WEIGHTS, e.weiNeedsReorder ? *e.weiBuf : wm},
                       {DNNL_ARG_BIAS, bm},
                       {DNNL_ARG_DST, e.dst.view(ym, residualOff >= 0)}});
    e.dst.back(ym);
    s.wait();
    return undefinedValue(env);
  });
}

// ------------------------------------------------------------------ matmul

// matmul(heap, a, b, c, [B, M, K, N, transposeA, transposeB]): c[b] = op(a[b]) op(b[b]),
// row-major, a [B, M, K] (transposed: [B, K, M]), b [B, K, N] (transposed: [B, N, K]),
// c [B, M, N]; transposes are strides on oneDNN's memory descriptors, no copies.
napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    a.takeHeap(0);
    const auto p = a.intArray(4, 6);
    const int64_t B = p[0], M = p[1], K = p[2], N = p[3];
    const bool tA = p[4] != 0, tB = p[5] != 0;
    if (B < 1 || M < 1 || K < 1 || N < 1) throw ArgError("matmul sizes must be positive");
    static std::unordered_map<std::string, dnnl::matmul> cache;
    std::ostringstream key;
    for (auto v : p) key << v << ',';
    memory::desc aMd({B, M, K}, dt::f32, tA ? memory::dims{M * K, 1, M} : memory::dims{M * K, K, 1});
    memory::desc bMd({B, K, N}, dt::f32, tB ? memory::dims{K * N, 1, K} : memory::dims{K * N, N, 1});
    memory::desc cMd({B, M, N}, dt::f32, memory::dims{M * N, N, 1});
    auto it = cache.find(key.str());
    if (it == cache.end()) {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(aMd, bMd, cMd), eng());
      it = cache.emplace(key.str(), dnnl::matmul(pd)).first;
    }
    memory am(aMd, eng(), a.at(a.integer(1), B * M * K)), bm(bMd, eng(), a.at(a.integer(2), B * K * N));
    memory cm(cMd, eng(), a.at(a.integer(3), B * M * N));
    it->second.execute(strm(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    strm().wait();
    return undefinedValue(env);
  });
}

// The pooling parameters [N, H, W, C, OH, OW, KH, KW, sH, sW, padT, padL] at argument `index`, checked.
std::vector<int64_t> poolParams(Args& a, size_t index) {
  auto p = a.intArray(index, 12);
  for (auto v : p)
    if (v < 0) throw ArgError("negative pooling parameter");
  if (p[8] < 1 || p[9] < 1) throw ArgError("pooling strides must be positive");
  return p;
}

// Max pool: y[n, oh, ow, c] = max over the window's taps inside the image
// (padding taps skipped; -inf for a window of padding only, as tfjs's cpu
// kernel). One output row per OpenMP iteration, the channel loop vectorised.
void maxPoolRows(const float* x, float* y, const int64_t* p) {
  const int64_t N = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], KH = p[6], KW = p[7];
  const int64_t sH = p[8], sW = p[9], top = p[10], left = p[11];
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < N * OH; row++) {
    const int64_t n = row / OH, oh = row % OH;
    const float* xn = x + n * H * W * C;
    for (int64_t ow = 0; ow < OW; ow++) {
      float* __restrict yr = y + (row * OW + ow) * C;
      for (int64_t c = 0; c < C; c++) yr[c] = -INFINITY;
      for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t h = oh * sH - top + kh;
        if (h < 0 || h >= H) continue;
        for (int64_t kw = 0; kw < KW; kw++) {
          const int64_t w = ow * sW - left + kw;
          if (w < 0 || w >= W) continue;
          const float* __restrict xr = xn + (h * W + w) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; c++) yr[c] = xr[c] > yr[c] ? xr[c] : yr[c];
        }
      }
    }
  }
}

// maxPool(heap, x, y, [N, H, W, C, OH, OW, KH, KW, sH, sW, padT, padL])
napi_value MaxPool(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4);
    a.takeHeap(0);
    const auto p = poolParams(a, 3);
    maxPoolRows(a.at(a.integer(1), p[0] * p[1] * p[2] * p[3]), a.at(a.integer(2), p[0] * p[4] * p[5] * p[3]), p.data());
    return undefinedValue(env);
  });
}

// Max-pool gradient, one image per OpenMP iteration (windows of one image may
// overlap, images never do). Per window, the running maximum and its position
// are kept for all C channels at once so that the tap loop vectorises; the
// first maximum in row-major order wins ties, padding taps are skipped. A free
// function over raw pointers (inside the N-API lambda gcc did not vectorise the
// channel loops); window positions are int32 (per image) so that they
// vectorise alongside the float compares.
void maxPoolGradImages(const float* dy, const float* x, float* dx, const int64_t* p) {
  const int64_t N = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], KH = p[6], KW = p[7];
  const int64_t sH = p[8], sW = p[9], top = p[10], left = p[11];
#pragma omp parallel
  {
    std::vector<float> bestBuf(C);
    std::vector<int32_t> atBuf(C);
    float* __restrict best = bestBuf.data();
    int32_t* __restrict at = atBuf.data();
    const int32_t C32 = static_cast<int32_t>(C);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) {
      const float* xn = x + n * H * W * C;
      float* dxn = dx + n * H * W * C;
      std::fill(dxn, dxn + H * W * C, 0.0f);
      for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t ow = 0; ow < OW; ow++) {
          bool first = true;
          for (int64_t kh = 0; kh < KH; kh++) {
            const int64_t h = oh * sH - top + kh;
            if (h < 0 || h >= H) continue;
            for (int64_t kw = 0; kw < KW; kw++) {
              const int64_t w = ow * sW - left + kw;
              if (w < 0 || w >= W) continue;
              const int32_t base = static_cast<int32_t>((h * W + w) * C);
              const float* xr = xn + base;
              if (first) {
#pragma omp simd
                for (int32_t c = 0; c < C32; c++) {
                  best[c] = xr[c];
                  at[c] = base + c;
                }
                first = false;
                continue;
              }
              // Branch-free (a mask for the position): with selects gcc saw control flow.
#pragma omp simd
              for (int32_t c = 0; c < C32; c++) {
                const float v = xr[c], b = best[c];
                const int32_t better = -static_cast<int32_t>(v > b);
                best[c] = v > b ? v : b;
                at[c] = (at[c] & ~better) | ((base + c) & better);
              }
            }
          }
          if (first) continue;  // a window of padding only
          const float* dyr = dy + ((n * OH + oh) * OW + ow) * C;
          for (int64_t c = 0; c < C; c++) dxn[at[c]] += dyr[c];
        }
      }
    }
  }
}

napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    a.takeHeap(0);
    const auto p = poolParams(a, 4);
    const int64_t N = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5];
    if (H * W * C >= (int64_t{1} << 31)) throw ArgError("image too large for the pooling gradient");
    maxPoolGradImages(a.at(a.integer(1), N * OH * OW * C), a.at(a.integer(2), N * H * W * C), a.at(a.integer(3), N * H * W * C), p.data());
    return undefinedValue(env);
  });
}

// ------------------------------------------------------------ batch norm

// Inference batch norm as one pass y = x * a[c] + b[c], with
// a = scale / sqrt(var + eps) and b = offset - mean * a computed in double
// (PyTorch's CPU inference form). oneDNN 2.6's nhwc batch norm runs on one
// thread for C <= 64 (see below): 4.4 ms for 128x32x32x16 vs ~1 ms here.
// mean / scale / shift may be -1 (0, 1, 0): the batch-norm gradient wrt x is
// this kernel on dy with mean and shift absent.
// ReLU's gradient factor for the fused BN + ReLU: dy * stepOf(relu output) is
// bit for bit GapReluGrad's dy * step(x), except that a NaN output gives 0, not
// NaN (the forward already put the NaN in the loss): the NaN select made the
// masked batch-norm backward slower than a separate GapReluGrad pass.
inline float stepOf(float m) { return m > 0.0f ? 1.0f : 0.0f; }
// tfjs's ReLU (wasm: x < 0 ? 0 : x, NaN kept).
inline float reluOf(float v) { return v < 0.0f ? 0.0f : v; }

void channelAffine(const float* x, const float* a, const float* b, float* y, int64_t rows, int64_t C, bool relu,
                   const float* mask) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    if (mask) {
      const float* mr = mask + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * stepOf(mr[c]) * a[c] + b[c];
    } else if (relu) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) yr[c] = reluOf(xr[c] * a[c] + b[c]);
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];
    }
  }
}

napi_value BatchNormInference(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 14);
    a.takeHeap(0);
    const int64_t N = a.integer(7), H = a.integer(8), W = a.integer(9), C = a.integer(10);
    const double eps = a.num(11);
    const bool relu = a.integer(12) != 0;
    const int64_t rows = N * H * W, count = rows * C;
    const float* x = a.at(a.integer(1), count);
    float* y = a.at(a.integer(6), count);
    const float* mask = a.integer(13) >= 0 ? a.at(a.integer(13), count) : nullptr;
    const float* var = a.at(a.integer(3), C);
    const int64_t meanOff = a.integer(2), scaleOff = a.integer(4), shiftOff = a.integer(5);
    const float* mean = meanOff >= 0 ? a.at(meanOff, C) : nullptr;
    const float* scale = scaleOff >= 0 ? a.at(scaleOff, C) : nullptr;
    const float* shift = shiftOff >= 0 ? a.at(shiftOff, C) : nullptr;
    std::vector<float> mul(C), add(C);
    for (int64_t c = 0; c < C; c++) {
      const double k = (scale ? scale[c] : 1.0) / std::sqrt(static_cast<double>(var[c]) + eps);
      mul[c] = static_cast<float>(k);
      add[c] = static_cast<float>((shift ? shift[c] : 0.0) - (mean ? mean[c] : 0.0) * k);
    }
    channelAffine(x, mul.data(), add.data(), y, rows, C, relu, mask);
    return undefinedValue(env);
  });
}

// Training-mode batch norm by hand: oneDNN 2.6's nhwc batch norm parallelises
// over 16-channel blocks, so with C = 16..64 it runs on one thread with a poor
// access pattern (measured ~16 ms forward for 128x32x32x16 vs ~2 ms here).
// Rows (N*H*W) are split over the OpenMP threads; per-channel sums in double.

// Per-channel sum and sum of squares of x over the rows, in one pass and in
// double (a float's square is exact in double; with n ~ 1e5 rows the relative
// error of E[x^2] - E[x]^2 stays ~1e-11 * (1 + mean^2 / var)). Per-thread
// partials are added in thread order (deterministic). A free function over raw
// pointers: as a lambda over captured references gcc did not vectorise it.
// sumSq null: the sums alone (the Sum kernel over all axes but the last).
void channelMoments(const float* x, double* sum, double* sumSq, int64_t rows, int64_t C) {
  std::vector<std::vector<double>> partial(omp_get_max_threads());
  const bool squares = sumSq != nullptr;
#pragma omp parallel
  {
    std::vector<double> local(2 * C, 0.0);
    double* s1 = local.data();
    double* s2 = s1 + C;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = x + r * C;
      if (squares) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
          const double v = xr[c];
          s1[c] += v;
          s2[c] += v * v;
        }
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) s1[c] += xr[c];
      }
    }
    partial[omp_get_thread_num()] = std::move(local);
  }
  for (int64_t c = 0; c < C; c++) sum[c] = 0.0;
  if (squares)
    for (int64_t c = 0; c < C; c++) sumSq[c] = 0.0;
  for (const auto& p : partial) {
    if (p.empty()) continue;
    for (int64_t c = 0; c < C; c++) {
      sum[c] += p[c];
      if (squares) sumSq[c] += p[C + c];
    }
  }
}

// channelSum(heap, x, out, rows, C): out[c] = sum of x[r, c] over the rows, in
// double (tfjs's Sum over every axis but the last: a bias's gradient; the wasm
// kernel transposes first, ~8 ms for 128x32x32x64).
napi_value ChannelSum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    a.takeHeap(0);
    const int64_t rows = a.integer(3), C = a.integer(4);
    if (rows < 0 || C < 1) throw ArgError("channelSum needs rows >= 0 and C >= 1");
    const float* x = a.at(a.integer(1), rows * C);
    float* out = a.at(a.integer(2), C);
    std::vector<double> sum(C);
    channelMoments(x, sum.data(), nullptr, rows, C);
    for (int64_t c = 0; c < C; c++) out[c] = static_cast<float>(sum[c]);
    return undefinedValue(env);
  });
}

napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 13);
    a.takeHeap(0);
    const int64_t N = a.integer(7), H = a.integer(8), W = a.integer(9), C = a.integer(10);
    const double eps = a.num(11);
    const bool relu = a.integer(12) != 0;
    const int64_t rows = N * H * W, count = rows * C;
    if (rows < 1 || C < 1) throw ArgError("batch norm needs a non-empty input");
    const float* x = a.at(a.integer(1), count);
    const float* gamma = a.at(a.integer(2), C);
    const float* beta = a.at(a.integer(3), C);
    float* y = a.at(a.integer(4), count);
    float* meanOut = a.at(a.integer(5), C);
    float* varOut = a.at(a.integer(6), C);
    std::vector<double> mean(C), var(C);
    channelMoments(x, mean.data(), var.data(), rows, C);
    std::vector<float> scale(C), shift(C);
    for (int64_t c = 0; c < C; c++) {
      mean[c] /= static_cast<double>(rows);
      var[c] = std::max(0.0, var[c] / static_cast<double>(rows) - mean[c] * mean[c]);
      const double inv = 1.0 / std::sqrt(var[c] + eps);
      scale[c] = static_cast<float>(gamma[c] * inv);
      shift[c] = static_cast<float>(beta[c] - mean[c] * gamma[c] * inv);
      meanOut[c] = static_cast<float>(mean[c]);
      varOut[c] = static_cast<float>(var[c]);
    }
    channelAffine(x, scale.data(), shift.data(), y, rows, C, relu, nullptr);
    return undefinedValue(env);
  });
}

// Batch-norm backward in two passes over the rows: per-channel sums of dy and
// dy * (x - mean) together (per-thread partials in double, added in thread
// order so results do not depend on timing), then dx. dyAt(i) gives dy.
template <typename D>
void bnBackwardRows(const float* x, D dyAt, const float* meanIn, const float* varIn, const float* gamma, float* dx,
                    float* dgamma, float* dbeta, int64_t rows, int64_t C, double eps) {
  std::vector<std::vector<double>> partial(omp_get_max_threads());
#pragma omp parallel
  {
    std::vector<double> local(2 * C, 0.0);
    double* sd = local.data();
    double* sdx = sd + C;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = x + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        const double d = dyAt(r * C + c);
        sd[c] += d;
        sdx[c] += d * (xr[c] - meanIn[c]);
      }
    }
    partial[omp_get_thread_num()] = std::move(local);
  }
  std::vector<double> sumDy(C, 0.0), sumDyXc(C, 0.0);
  for (const auto& p : partial) {
    if (p.empty()) continue;
    for (int64_t c = 0; c < C; c++) {
      sumDy[c] += p[c];
      sumDyXc[c] += p[C + c];
    }
  }
  // dx = gamma*inv * (dy - sum(dy)/M - xc * inv^2 * sum(dy*xc)/M), xc = x - mean
  std::vector<float> k1(C), k2(C), k3(C), mu(C);
  const double M = static_cast<double>(rows);
  for (int64_t c = 0; c < C; c++) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(varIn[c]) + eps);
    dbeta[c] = static_cast<float>(sumDy[c]);
    dgamma[c] = static_cast<float>(sumDyXc[c] * inv);
    const double g = gamma[c] * inv;
    k1[c] = static_cast<float>(g);
    k2[c] = static_cast<float>(g * sumDy[c] / M);
    k3[c] = static_cast<float>(g * inv * inv * sumDyXc[c] / M);
    mu[c] = meanIn[c];
  }
  const float *p1 = k1.data(), *p2 = k2.data(), *p3 = k3.data(), *pm = mu.data();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* dxr = dx + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxr[c] = p1[c] * dyAt(r * C + c) - p2[c] - p3[c] * (xr[c] - pm[c]);
  }
}

napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 15);
    a.takeHeap(0);
    const int64_t N = a.integer(9), H = a.integer(10), W = a.integer(11), C = a.integer(12);
    const double eps = a.num(13);
    const int64_t rows = N * H * W, count = rows * C;
    if (rows < 1 || C < 1) throw ArgError("batch norm needs a non-empty input");
    const float* x = a.at(a.integer(1), count);
    const float* dy = a.at(a.integer(2), count);
    const float* meanIn = a.at(a.integer(3), C);
    const float* varIn = a.at(a.integer(4), C);
    const float* gamma = a.at(a.integer(5), C);
    float* dx = a.at(a.integer(6), count);
    float* dgamma = a.at(a.integer(7), C);
    float* dbeta = a.at(a.integer(8), C);
    const int64_t maskOff = a.integer(14);
    const float* mask = maskOff >= 0 ? a.at(maskOff, count) : nullptr;
    if (mask) {
      // Fused BN + ReLU: dy * step(output), the ReLU gradient, read on the fly.
      bnBackwardRows(x, [=](int64_t i) { return dy[i] * stepOf(mask[i]); }, meanIn, varIn, gamma, dx, dgamma, dbeta, rows, C, eps);
    } else {
      bnBackwardRows(x, [=](int64_t i) { return dy[i]; }, meanIn, varIn, gamma, dx, dgamma, dbeta, rows, C, eps);
    }
    return undefinedValue(env);
  });
}

// ------------------------------------------------------------------ dropout
// y = x * (u_i >= rate ? keep : 0), u_i = fmix32(seed + i * 0x9e3779b9) / 2^32
// (murmur3's finaliser over a Weyl sequence): the same integer hash as
// dropoutMultiplier in nn/layers.ts, so both give the same bits. A multiply,
// not a select, so that -0 and NaN come out as with tf.mul. Linear in x: the
// gradient is the same call on dy.
void dropoutRows(const float* x, float* y, int64_t n, double threshold, float keep, uint32_t seed) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    uint32_t h = seed + static_cast<uint32_t>(i) * 0x9e3779b9u;
    h = (h ^ (h >> 16)) * 0x85ebca6bu;
    h = (h ^ (h >> 13)) * 0xc2b2ae35u;
    h ^= h >> 16;
    y[i] = x[i] * (static_cast<double>(h) >= threshold ? keep : 0.0f);
  }
}

// dropout(heap, x, y, n, rate, seed); keep = 1 / (1 - rate) rounded to float, as
// dropoutMultiplier's Float32Array store rounds it.
napi_value Dropout(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    a.takeHeap(0);
    const int64_t n = a.integer(3);
    const double rate = a.num(4), seed = a.num(5);
    if (!(rate >= 0 && rate < 1) || !(seed >= 0 && seed < 4294967296.0)) throw ArgError("dropout needs 0 <= rate < 1 and a uint32 seed");
    dropoutRows(a.at(a.integer(1), n), a.at(a.integer(2), n), n, rate * 4294967296.0, static_cast<float>(1.0 / (1.0 - rate)),
                static_cast<uint32_t>(seed));
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------- optimizer steps
// The same float32 operations, in the same order, as the tf ops they replace
// (train/sgd.ts, BatchNorm.update), so bit for bit equal to them; built with
// -ffp-contract=off so that no multiply-add is fused.

// g = grad + w * wd (wd > 0); buf = first ? g : buf * m + g (m > 0);
// step = nesterov ? g + buf * m : buf (or g without momentum); w -= step * lr.
void sgdRows(const float* w, const float* grad, const float* buf, float* wOut, float* bufOut, int64_t n, float lr,
             float m, float wd, bool nesterov) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    const float g = wd > 0 ? grad[i] + w[i] * wd : grad[i];
    float step = g;
    if (m > 0) {
      const float b = buf ? buf[i] * m + g : g;
      bufOut[i] = b;
      step = nesterov ? g + b * m : b;
    }
    wOut[i] = w[i] - step * lr;
  }
}

// sgd(heap, w, grad, buf|-1, wOut, bufOut|-1, n, lr, momentum, weightDecay, nesterov):
// one torch.optim.SGD step of one parameter; buf -1: the first step (buf = g).
napi_value Sgd(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 11);
    a.takeHeap(0);
    const int64_t n = a.integer(6);
    const float lr = static_cast<float>(a.num(7)), m = static_cast<float>(a.num(8)), wd = static_cast<float>(a.num(9));
    const float* buf = m > 0 && a.integer(3) >= 0 ? a.at(a.integer(3), n) : nullptr;
    float* bufOut = m > 0 ? a.at(a.integer(5), n) : nullptr;
    sgdRows(a.at(a.integer(1), n), a.at(a.integer(2), n), buf, a.at(a.integer(4), n), bufOut, n, lr, m, wd, a.integer(10) != 0);
    return undefinedValue(env);
  });
}

void blendRows(const float* running, const float* batch, float* out, int64_t n, float keep, float take) {
  for (int64_t i = 0; i < n; i++) out[i] = running[i] * keep + batch[i] * take;
}

// batchNormUpdate(heap, runMean, runVar, mean, var, runMeanOut, runVarOut, C, momentum):
// running = running * (1 - momentum) + batch * momentum, for both statistics.
napi_value BatchNormUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9);
    a.takeHeap(0);
    const int64_t C = a.integer(7);
    const double m = a.num(8);
    for (int k = 0; k < 2; k++) {
      blendRows(a.at(a.integer(1 + k), C), a.at(a.integer(3 + k), C), a.at(a.integer(5 + k), C), C, static_cast<float>(1 - m),
                static_cast<float>(m));
    }
    return undefinedValue(env);
  });
}

// ------------------------------------------------------------ elementwise
// The wasm backend's broadcasting path (x[..., C] op y[C]) costs ~2-4 ms per
// 2M elements; its same-shape ops are SIMD and memory-bound, so stay there.

// binary(op, heap, a, b, out, rows, C, aFull, bFull): out[r, c] = op(a, b),
// where a (b) is [rows, C] when aFull (bFull), else [C] repeated per row.
// op: 0 add, 1 sub, 2 mul, 3 div, 4 min, 5 max (NaN-propagating, as tfjs),
// 6 relu(a + b) (two wasm passes, Add and Relu, in one multi-threaded pass).
template <typename F>
void binaryRows(const float* a, const float* b, float* out, int64_t rows, int64_t C, bool aFull, bool bFull, F&& f) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
  for (int64_t r = 0; r < rows; r++) {
    const float* ar = aFull ? a + r * C : a;
    const float* br = bFull ? b + r * C : b;
    float* o = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) o[c] = f(ar[c], br[c]);
  }
}

napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9);
    const int op = static_cast<int>(a.integer(0));
    a.takeHeap(1);
    int64_t rows = a.integer(5), C = a.integer(6);
    const bool aFull = a.integer(7) != 0, bFull = a.integer(8) != 0;
    if (rows < 0 || C < 0) throw ArgError("negative size");
    const float* x = a.at(a.integer(2), aFull ? rows * C : C);
    const float* y = a.at(a.integer(3), bFull ? rows * C : C);
    float* out = a.at(a.integer(4), rows * C);
    // Few channels (RGB: C = 3): rows of 3 do not vectorise, so repeat the
    // per-channel operand k times and treat k rows as one (one copy, <= 64 floats).
    std::vector<float> repeated;
    int64_t k = 1;
    while (C * k < 64 && rows % (2 * k) == 0) k *= 2;
    if (k > 1 && aFull != bFull) {
      const float* small = aFull ? y : x;
      for (int64_t i = 0; i < k; i++) repeated.insert(repeated.end(), small, small + C);
      (aFull ? y : x) = repeated.data();
      rows /= k;
      C *= k;
    }
    auto run = [&](auto f) { binaryRows(x, y, out, rows, C, aFull, bFull, f); };
    switch (op) {
      case 0: run([](float p, float q) { return p + q; }); break;
      case 1: run([](float p, float q) { return p - q; }); break;
      case 2: run([](float p, float q) { return p * q; }); break;
      case 3: run([](float p, float q) { return p / q; }); break;
      case 4: run([](float p, float q) { return (p != p || q != q) ? NAN : (p < q ? p : q); }); break;
      case 5: run([](float p, float q) { return (p != p || q != q) ? NAN : (p > q ? p : q); }); break;
      case 6: run([](float p, float q) { return reluOf(p + q); }); break;
      default: throw ArgError("binary op must be 0..6");
    }
    return undefinedValue(env);
  });
}

// dx = dy * (0 < x <= upper), NaN where x is NaN (as tfjs's Step): the ReLU
// gradient (upper = inf; tfjs: Step + Cast + Multiply) and ReLU6's (upper = 6;
// tfjs: LessEqual, Step, Cast and two Multiplies, ~1/3 of a MobileNetV2 PGD
// step on wasm) in one pass. A multiply by a selected 0/1: selects like this
// only vectorise with -fno-trapping-math (binding.gyp); scalar, the branches
// mispredicted on random signs: 10-20 ms per 2M elements instead of <1 ms.
// The loop is a free function: written inside the guarded lambda, `upper` was
// a captured reference, the conditional load kept gcc from vectorising it,
// and the pass took 6.6 ms instead of 0.35 ms per 2M elements.
void gatedRows(const float* dy, const float* x, float* dx, int64_t n, float upper) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0f && x[i] <= upper ? 1.0f : (x[i] != x[i] ? x[i] : 0.0f));
}

napi_value gatedGradient(napi_env env, napi_callback_info info, float upper) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    a.takeHeap(0);
    const int64_t n = a.integer(4);
    gatedRows(a.at(a.integer(1), n), a.at(a.integer(2), n), a.at(a.integer(3), n), n, upper);
    return undefinedValue(env);
  });
}

// reluGrad(heap, dy, x, dx, n), relu6Grad(heap, dy, x, dx, n)
napi_value ReluGrad(napi_env env, napi_callback_info info) { return gatedGradient(env, info, INFINITY); }
napi_value Relu6Grad(napi_env env, napi_callback_info info) { return gatedGradient(env, info, 6.0f); }
// relu6OutputGrad(heap, dy, y, dx, n): ReLU6's gradient from its output y (the
// fused conv's): 0 < y < 6. It differs from the input-side 0 < x <= 6 only at x = 6 exactly.
napi_value Relu6OutputGrad(napi_env env, napi_callback_info info) { return gatedGradient(env, info, std::nextafter(6.0f, 0.0f)); }

// ------------------------------------------------------------------ slice

// slice4(heap, x, y, shape[4], begin[4], size[4]): y = x[b0:b0+s0, ...]
// for 4-byte elements; lower ranks are padded with leading 1s by the caller.
napi_value Slice4(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    a.takeHeap(0);
    const auto sh = a.intArray(3, 4), b = a.intArray(4, 4), sz = a.intArray(5, 4);
    for (int i = 0; i < 4; i++) {
      if (b[i] < 0 || sz[i] < 0 || b[i] + sz[i] > sh[i]) throw ArgError("slice out of range");
    }
    const float* x = a.at(a.integer(1), sh[0] * sh[1] * sh[2] * sh[3]);
    float* y = a.at(a.integer(2), sz[0] * sz[1] * sz[2] * sz[3]);
    const int64_t outer = sz[0] * sz[1];
#pragma omp parallel for schedule(static) if (outer * sz[2] * sz[3] > 65536)
    for (int64_t o = 0; o < outer; o++) {
      const int64_t i0 = o / sz[1] + b[0], i1 = o % sz[1] + b[1];
      for (int64_t i2 = 0; i2 < sz[2]; i2++) {
        const float* src = x + ((i0 * sh[1] + i1) * sh[2] + i2 + b[2]) * sh[3] + b[3];
        float* dst = y + (o * sz[2] + i2) * sz[3];
        std::memcpy(dst, src, sizeof(float) * sz[3]);
      }
    }
    return undefinedValue(env);
  });
}

// pad4(heap, x, y, shape[4], before[4], after[4], value): constant padding of
// a float32 tensor of rank <= 4 (leading 1s added by the caller). The wasm
// PadV2 took ~5 ms for ResNet's channel padding of 128x16x16x16.
napi_value Pad4(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7);
    a.takeHeap(0);
    const auto sh = a.intArray(3, 4), lo = a.intArray(4, 4), hi = a.intArray(5, 4);
    const float value = static_cast<float>(a.num(6));
    int64_t out[4];
    for (int i = 0; i < 4; i++) {
      if (sh[i] < 0 || lo[i] < 0 || hi[i] < 0) throw ArgError("negative pad or shape");
      out[i] = lo[i] + sh[i] + hi[i];
    }
    const float* x = a.at(a.integer(1), sh[0] * sh[1] * sh[2] * sh[3]);
    float* y = a.at(a.integer(2), out[0] * out[1] * out[2] * out[3]);
    const int64_t outer = out[0] * out[1];
#pragma omp parallel for schedule(static) if (outer * out[2] * out[3] > 65536)
    for (int64_t o = 0; o < outer; o++) {
      const int64_t i0 = o / out[1] - lo[0], i1 = o % out[1] - lo[1];
      const bool rowIn = i0 >= 0 && i0 < sh[0] && i1 >= 0 && i1 < sh[1];
      for (int64_t j2 = 0; j2 < out[2]; j2++) {
        float* dst = y + (o * out[2] + j2) * out[3];
        const int64_t i2 = j2 - lo[2];
        if (!rowIn || i2 < 0 || i2 >= sh[2]) {
          std::fill(dst, dst + out[3], value);
          continue;
        }
        std::fill(dst, dst + lo[3], value);
        std::memcpy(dst + lo[3], x + ((i0 * sh[1] + i1) * sh[2] + i2) * sh[3], sizeof(float) * sh[3]);
        std::fill(dst + lo[3] + sh[3], dst + out[3], value);
      }
    }
    return undefinedValue(env);
  });
}

// ------------------------------------------------------------------- info

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
    napi_create_uint32(env, static_cast<uint32_t>(convCache().size()), &v);
    napi_set_named_property(env, obj, "cached", v);
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
      {"sgd", nullptr, Sgd, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormUpdate", nullptr, BatchNormUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pad4", nullptr, Pad4, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"slice4", nullptr, Slice4, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
