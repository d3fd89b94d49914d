// Convolutions (Conv2d, Conv2dFused) on oneDNN primitives, cached by shape.
#include "gap_native.h"

#include <cstdlib>

namespace gap {

// ------------------------------------------------------------- convolutions

// The staging buffers, shared by every conv: N-API calls come one at a time, and a
// call stages at most one x-shaped (slot 0) and one y-shaped (slot 1) activation.
// A buffer pair per primitive put VGG at 1894 MiB peak RSS in bench:compare (PyTorch 1368).
void* stagingBuffer(int slot, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
  };
  static Buffer buffers[2];
  Buffer& b = buffers[slot];
  if (bytes > b.size) {
    std::free(b.data);
    b.data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    b.size = b.data ? bytes : 0;
    if (!b.data) throw std::bad_alloc();
  }
  return b.data;
}

// An x- or y-shaped activation in the primitive's own layout when that is not
// the user's nhwc (see activationLayout): the reorders into and out of a shared buffer.
struct Staging {
  int slot;               // stagingBuffer's
  bool staged = false;    // false: the primitive reads and writes nhwc itself
  memory::desc md;        // the primitive's layout
  dnnl::reorder in, out;
  memory buf;             // this call's staged copy

  void init(const memory::desc& primMd, const memory::desc& userMd) {
    if (primMd == userMd) return;
    staged = true;
    md = primMd;
    memory user(userMd, eng(), DNNL_MEMORY_NONE), prim(primMd, eng(), DNNL_MEMORY_NONE);  // placeholders; bound per call
    in = dnnl::reorder(user, prim);
    out = dnnl::reorder(prim, user);
  }
  // What the primitive gets for `user`; fill: copy user's values in first.
  memory& view(memory& user, bool fill) {
    if (!staged) return user;
    buf = memory(md, eng(), stagingBuffer(slot, md.get_size()));
    if (fill) in.execute(strm(), user, buf);
    return buf;
  }
  // Copies the primitive's result back to `user`.
  void back(memory& user) {
    if (staged) out.execute(strm(), buf, user);
  }
};

struct ConvEntry {
  // Forward hint (also the forward primitive for kForward).
  dnnl::convolution_forward::primitive_desc fwdPd;
  dnnl::primitive prim;
  memory::desc weiMd;                // as the primitive wants it
  memory::desc userWeiMd;            // hwio
  memory::desc userSrcMd, userDstMd; // nhwc
  Staging src{0}, dst{1};            // x-shaped (x, dx) and y-shaped (y, dy) activations
  std::unique_ptr<memory> weiBuf;    // reordered weights (kForward, kInputGradient) or diff weights (kFilterGradient), if not hwio
  dnnl::reorder weiReorder;
  bool weiNeedsReorder = false;
  // Small weights: weiBuf offset of each user (hwio) element, for reordering
  // by hand (see reorderWeights); empty: oneDNN's reorder.
  std::vector<int64_t> weiOffsets;
  bool winograd = false;             // the Winograd algorithm (see winograd below), else direct
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
  if (G != 1 || kind == kFilterGradient) return tag::nhwc;
  if (KH * KW > 1 && H * W <= 16 && Ci >= 256 && Co >= 512) return tag::nChw16c;
  if (kind == kInputGradient && Ci < 16 && KH * KW >= 25) return tag::nchw;
  return tag::nhwc;
}

// Winograd F(4x4, 3x3) (oneDNN's jit_wino_4x3, on nChw16c) for a 3x3, stride-1
// conv over at least 64 input channels on images of at least 4x4. Per 128 images,
// staging reorders and the filter's transform included, one thread: ResNet20's
// 8x8x64 -> 64 forward 2.41 -> 1.64 ms, input gradient 2.74 -> 1.65, filter
// gradient 2.60 -> 2.20; VGG's and GoogLeNet's 1.1-4x faster (8x8x256 -> 256
// forward 39.1 -> 17.9 ms). Not below 64: over 16 input channels it was 0.5-0.8x,
// and ResNet20's 16x16x32 -> 32, 1.1-1.25x alone, was slower inside the network
// (forward and input gradient about 1 ms per step each, side by side); on 2x2
// images 0.8-1.1x. oneDNN may still refuse a shape: then direct.
bool winograd(const std::vector<int64_t>& p) {
  namespace cp = conv_param;
  return p[cp::KH] == 3 && p[cp::KW] == 3 && p[cp::strideH] == 1 && p[cp::strideW] == 1 && p[cp::dilationH] == 1 &&
         p[cp::dilationW] == 1 && p[cp::groups] == 1 && p[cp::Ci] >= 64 && p[cp::Ci] % 16 == 0 && p[cp::Co] % 16 == 0 &&
         p[cp::H] >= 4 && p[cp::W] >= 4;
}

std::unordered_map<std::string, std::unique_ptr<ConvEntry>>& convCache() {
  static std::unordered_map<std::string, std::unique_ptr<ConvEntry>> c;
  return c;
}

// The fused forward's post-ops: the residual add, then the activation.
dnnl::primitive_attr fusedPostOps(bool residual, int activation) {
  dnnl::post_ops ops;
  // A sum post-op over y pre-filled with the residual: with a binary add
  // post-op oneDNN 2.6 drops from brgconv to a slower jit kernel.
  if (residual) ops.append_sum(1.0f);
  if (activation == kRelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (activation == kRelu6) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return attr;
}

// The primitive of one direction (kind) of a conv, by the direct or the Winograd algorithm.
std::unique_ptr<ConvEntry> makeConvEntry(int kind, const std::vector<int64_t>& p, bool residual, int activation, bool wino) {
  namespace cp = conv_param;
  const int64_t N = p[cp::N], H = p[cp::H], W = p[cp::W], Ci = p[cp::Ci], KH = p[cp::KH], KW = p[cp::KW], Co = p[cp::Co], OH = p[cp::OH], OW = p[cp::OW];
  const int64_t sH = p[cp::strideH], sW = p[cp::strideW], dH = p[cp::dilationH], dW = p[cp::dilationW];
  const int64_t pT = p[cp::padTop], pL = p[cp::padLeft], pB = p[cp::padBottom], pR = p[cp::padRight];
  // Groups G > 1: a depthwise conv (G = Ci), tfjs filter [KH, KW, Ci, Co / Ci] = oneDNN's hwigo.
  const int64_t G = p[cp::groups];
  if (G < 1 || Ci % G != 0 || Co % G != 0) throw ArgError("conv groups must divide both channel counts");
  memory::dims srcDims{N, Ci, H, W}, dstDims{N, Co, OH, OW};
  memory::dims weiDims = G == 1 ? memory::dims{Co, Ci, KH, KW} : memory::dims{G, Co / G, Ci / G, KH, KW};
  memory::dims strides{sH, sW}, dil{dH - 1, dW - 1}, padL{pT, pL}, padR{pB, pR};

  auto e = std::make_unique<ConvEntry>();
  e->winograd = wino;
  e->userSrcMd = memory::desc(srcDims, dt::f32, tag::nhwc);
  e->userDstMd = memory::desc(dstDims, dt::f32, tag::nhwc);
  e->userWeiMd = memory::desc(weiDims, dt::f32, G == 1 ? tag::hwio : tag::hwigo);
  memory::desc anyWei(weiDims, dt::f32, tag::any);
  // A fixed layout, not tag::any: for inference oneDNN then picks nhwc brgconv, the slower one here.
  const tag layout = wino ? tag::nChw16c : activationLayout(kind, H, W, KH, KW, Ci, Co, G);
  const memory::desc srcMd(srcDims, dt::f32, layout), dstMd(dstDims, dt::f32, layout);
  const auto algorithm = wino ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;

  dnnl::convolution_forward::desc fwdDesc(dnnl::prop_kind::forward_training, algorithm,
                                          srcMd, anyWei, dstMd, strides, dil, padL, padR);
  e->fwdPd = dnnl::convolution_forward::primitive_desc(fwdDesc, eng());
  if (kind == kFusedForward) {
    // Winograd's inference primitive wants the filter pre-transformed, by a reorder that took
    // 1 ms for a 64 -> 64 filter (13 ms for 256 -> 256) on every call; its training one transforms it itself.
    const auto prop = wino ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    dnnl::convolution_forward::desc d(prop, algorithm,
                                      srcMd, anyWei, memory::desc({Co}, dt::f32, tag::a), dstMd, strides, dil, padL,
                                      padR);
    e->fwdPd = dnnl::convolution_forward::primitive_desc(d, fusedPostOps(residual, activation), eng());
  }
  if (kind == kForward || kind == kFusedForward) {
    e->prim = dnnl::convolution_forward(e->fwdPd);
    e->weiMd = e->fwdPd.weights_desc();
    e->src.init(e->fwdPd.src_desc(), e->userSrcMd);
    e->dst.init(e->fwdPd.dst_desc(), e->userDstMd);
  } else if (kind == kInputGradient) {
    dnnl::convolution_backward_data::desc d(algorithm, srcMd, anyWei, dstMd, strides, dil,
                                            padL, padR);
    dnnl::convolution_backward_data::primitive_desc pd(d, eng(), e->fwdPd);
    e->prim = dnnl::convolution_backward_data(pd);
    e->weiMd = pd.weights_desc();
    e->src.init(pd.diff_src_desc(), e->userSrcMd);
    e->dst.init(pd.diff_dst_desc(), e->userDstMd);
  } else {
    dnnl::convolution_backward_weights::desc d(algorithm, srcMd, anyWei, dstMd, strides,
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
    if (kind == kFilterGradient) {
      e->weiReorder = dnnl::reorder(*e->weiBuf, userW);
    } else {
      e->weiReorder = dnnl::reorder(userW, *e->weiBuf);
    }
  }
  return e;
}

// kFusedForward: the fused inference forward (bias, then optional residual add and
// the activation as post-ops).
ConvEntry& convEntry(int kind, const std::vector<int64_t>& p, bool residual = false, int activation = 0) {
  std::ostringstream key;
  key << kind << (residual ? 'r' : '-') << activation;
  for (auto x : p) key << ',' << x;
  auto& cache = convCache();
  auto it = cache.find(key.str());
  if (it != cache.end()) return *it->second;
  std::unique_ptr<ConvEntry> e;
  const bool wino = winograd(p);
  try {
    e = makeConvEntry(kind, p, residual, activation, wino);
  } catch (const dnnl::error&) {
    if (!wino) throw;
    e = makeConvEntry(kind, p, residual, activation, false);
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
  namespace cp = conv_param;
  auto p = a.intArray(index, cp::count);
  for (auto v : p)
    if (v < 0) throw ArgError("negative conv parameter");
  if (p[cp::groups] < 1) throw ArgError("conv groups must be >= 1");
  return {p, p[cp::N] * p[cp::H] * p[cp::W] * p[cp::Ci], p[cp::KH] * p[cp::KW] * p[cp::Ci] * p[cp::Co] / p[cp::groups], p[cp::N] * p[cp::OH] * p[cp::OW] * p[cp::Co]};
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

// A 1x1 conv with stride 1, no padding and one group: a matrix product over the N*H*W
// pixels (nhwc rows of Ci, hwio [Ci, Co]). oneDNN's matmul ran GoogLeNet's and
// MobileNetV2's 1x1 convs 1.1-7x faster than its conv primitive (filter gradients over
// 2x2 and 1x1 pixels most), so every direction and the fused forward run as one.
bool pointwise(const std::vector<int64_t>& p) {
  namespace cp = conv_param;
  return p[cp::KH] == 1 && p[cp::KW] == 1 && p[cp::strideH] == 1 && p[cp::strideW] == 1 && p[cp::padTop] == 0 && p[cp::padLeft] == 0 &&
         p[cp::padBottom] == 0 && p[cp::padRight] == 0 && p[cp::groups] == 1;
}

// A pointwise conv's direction as the product's parameters (matmul_param, pixels P):
// y[P, Co] = x[P, Ci] w[Ci, Co], dx[P, Ci] = dy[P, Co] w^T, dw[Ci, Co] = x^T dy.
std::vector<int64_t> pointwiseProduct(int kind, const std::vector<int64_t>& p) {
  namespace cp = conv_param;
  const int64_t pixels = p[cp::N] * p[cp::H] * p[cp::W], Ci = p[cp::Ci], Co = p[cp::Co];
  if (kind == kForward) return {1, pixels, Ci, Co, 0, 0};
  if (kind == kInputGradient) return {1, pixels, Co, Ci, 0, 1};
  return {1, Ci, pixels, Co, 1, 0};
}

// conv2d(kind, heap, a, b, out, p): kForward y = conv(x@a, w@b), kInputGradient
// dx = conv_bwd_data(dy@a, w@b), kFilterGradient dw = conv_bwd_weights(x@a, dy@b);
// p: conv_param; groups = Ci: depthwise, w is tfjs's [KH, KW, Ci, Co / Ci].
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return exported(env, info, 6, 1, [&](Args& a) {
    const int kind = static_cast<int>(a.integer(0));
    if (kind != kForward && kind != kInputGradient && kind != kFilterGradient) throw ArgError("conv2d kind must be 0, 1 or 2");
    const ConvSizes z = convSizes(a, 5);
    const int64_t xCount = z.x, wCount = z.w, yCount = z.y;
    if (pointwise(z.p)) {
      // a, b and the output: x, w, y (forward); dy, w, dx (input gradient); x, dy, dw (filter gradient).
      const int64_t counts[3][3] = {{xCount, wCount, yCount}, {yCount, wCount, xCount}, {xCount, yCount, wCount}};
      const int64_t* n = counts[kind];
      matmul(a.at(a.integer(2), n[0]), a.at(a.integer(3), n[1]), a.at(a.integer(4), n[2]), pointwiseProduct(kind, z.p));
      return;
    }
    if (conv3x3Fits(kind, z.p)) {
      namespace cp = conv_param;
      const int64_t N = z.p[cp::N], H = z.p[cp::H], W = z.p[cp::W], Ci = z.p[cp::Ci], Co = z.p[cp::Co];
      const float* w = a.at(a.integer(3), wCount);
      if (kind == kForward) conv3x3(a.at(a.integer(2), xCount), w, nullptr, nullptr, a.at(a.integer(4), yCount), N, H, W, Ci, Co, kNoActivation);
      else conv3x3InputGradient(a.at(a.integer(2), yCount), w, a.at(a.integer(4), xCount), N, H, W, Ci, Co);
      return;
    }
    ConvEntry& e = convEntry(kind, z.p);
    auto& s = strm();
    if (kind == kForward) {
      float* x = a.at(a.integer(2), xCount);
      float* w = a.at(a.integer(3), wCount);
      float* y = a.at(a.integer(4), yCount);
      memory xm(e.userSrcMd, eng(), x), wm(e.userWeiMd, eng(), w), ym(e.userDstMd, eng(), y);
      if (e.weiNeedsReorder) reorderWeights(e, wm, *e.weiBuf);
      e.prim.execute(s, {{DNNL_ARG_SRC, e.src.view(xm, true)},
                         {DNNL_ARG_WEIGHTS, e.weiNeedsReorder ? *e.weiBuf : wm},
                         {DNNL_ARG_DST, e.dst.view(ym, false)}});
      e.dst.back(ym);
    } else if (kind == kInputGradient) {
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

// The fused forward of a pointwise conv: y[P, Co] = x[P, Ci] w[Ci, Co] + bias with the
// fused post-ops, as one oneDNN matmul, cached by shape.
dnnl::matmul& pointwiseFused(int64_t pixels, int64_t Ci, int64_t Co, bool residual, int activation) {
  static std::unordered_map<std::string, dnnl::matmul> cache;
  std::ostringstream key;
  key << pixels << ',' << Ci << ',' << Co << ',' << residual << ',' << activation;
  auto it = cache.find(key.str());
  if (it == cache.end()) {
    dnnl::matmul::desc d(memory::desc({pixels, Ci}, dt::f32, tag::ab), memory::desc({Ci, Co}, dt::f32, tag::ab),
                         memory::desc({1, Co}, dt::f32, tag::ab), memory::desc({pixels, Co}, dt::f32, tag::ab));
    it = cache.emplace(key.str(), dnnl::matmul(dnnl::matmul::primitive_desc(d, fusedPostOps(residual, activation), eng()))).first;
  }
  return it->second;
}

// PyTorch's fuse_conv_bn_weights factor a = scale / sqrt(var + eps) per output channel, in double.
std::vector<double> foldFactors(const float* scale, const float* var, double eps, int64_t Co) {
  std::vector<double> k(Co);
  for (int64_t o = 0; o < Co; o++) k[o] = scale[o] / std::sqrt(static_cast<double>(var[o]) + eps);
  return k;
}

// foldFilter(heap, w, scale, var, eps, wFolded, wCount, Co): wFolded = w * a, the fold
// conv2dFused applies, bit for bit (the fused conv's input gradient convolves with it).
napi_value FoldFilter(napi_env env, napi_callback_info info) {
  return exported(env, info, 8, 0, [&](Args& a) {
    const int64_t wCount = a.integer(6), Co = a.integer(7);
    if (Co < 1 || wCount < 0 || wCount % Co != 0) throw ArgError("the filter's size must be a multiple of its output channels");
    const auto k = foldFactors(a.at(a.integer(2), Co), a.at(a.integer(3), Co), a.num(4), Co);
    foldWeights(a.at(a.integer(1), wCount), k.data(), a.at(a.integer(5), wCount), wCount / Co, Co);
  });
}

// conv2dFused(heap, x, w, scale, offset, mean, var, eps, residual|-1, y, p, activation):
// PyTorch's fuse_conv_bn_weights in double, a = scale / sqrt(var + eps) per output
// channel (hwio: the innermost index), w * a folded into a buffer of this addon (no
// second output: tfjs would build a zero gradient for it in JS on every backward pass);
// then y = activation(conv(x, w * a) + offset - mean * a (+ residual)) as one oneDNN
// inference primitive with the sum and the activation as post-ops (or conv3x3.cc's kernel).
napi_value Conv2dFused(napi_env env, napi_callback_info info) {
  return exported(env, info, 12, 0, [&](Args& a) {
    const ConvSizes z = convSizes(a, 10);
    const auto& p = z.p;
    if (p[conv_param::groups] != 1 && p[conv_param::groups] != p[conv_param::Ci]) throw ArgError("the fused conv takes groups 1 or depthwise");
    const int64_t Co = p[conv_param::Co], xCount = z.x, wCount = z.w, yCount = z.y;
    const int64_t activation = a.integer(11);
    if (activation != kNoActivation && activation != kRelu && activation != kRelu6) throw ArgError("activation must be 0 (none), 1 (ReLU) or 2 (ReLU6)");
    const float* w = a.at(a.integer(2), wCount);
    const float* scale = a.at(a.integer(3), Co);
    const float* offset = a.at(a.integer(4), Co);
    const float* mean = a.at(a.integer(5), Co);
    const float* var = a.at(a.integer(6), Co);
    const int64_t residualOff = a.integer(8);
    const auto k = foldFactors(scale, var, a.num(7), Co);
    std::vector<float> bias(Co);
    for (int64_t o = 0; o < Co; o++) bias[o] = static_cast<float>(offset[o] - mean[o] * k[o]);
    // hwio and depthwise [KH, KW, Ci, multiplier] alike: rows of Co output channels.
    static std::vector<float> folded;  // kept between calls: N-API calls come one at a time
    if (folded.size() < static_cast<size_t>(wCount)) folded.resize(wCount);
    float* wFolded = folded.data();
    foldWeights(w, k.data(), wFolded, wCount / Co, Co);

    float* y = a.at(a.integer(9), yCount);
    if (conv3x3Fits(kFusedForward, p)) {
      const float* residual = residualOff >= 0 ? a.at(residualOff, yCount) : nullptr;
      namespace cp = conv_param;
      conv3x3(a.at(a.integer(1), xCount), wFolded, bias.data(), residual, y, p[cp::N], p[cp::H], p[cp::W], p[cp::Ci], Co, static_cast<int>(activation));
      return;
    }
    if (residualOff >= 0) {
      const float* residual = a.at(residualOff, yCount);
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < yCount; i++) y[i] = residual[i];
    }
    auto& s = strm();
    if (pointwise(p)) {
      // A 1x1 conv, stride 1, no padding: one matmul over the pixels, as Conv2d runs the unfused ones.
      const int64_t pixels = xCount / p[conv_param::Ci];
      dnnl::matmul& mm = pointwiseFused(pixels, p[conv_param::Ci], Co, residualOff >= 0, static_cast<int>(activation));
      memory xm({{pixels, p[conv_param::Ci]}, dt::f32, tag::ab}, eng(), a.at(a.integer(1), xCount));
      memory wm({{p[conv_param::Ci], Co}, dt::f32, tag::ab}, eng(), wFolded);
      memory bm({{1, Co}, dt::f32, tag::ab}, eng(), bias.data());
      memory ym({{pixels, Co}, dt::f32, tag::ab}, eng(), y);
      mm.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym}});
      s.wait();
      return;
    }
    ConvEntry& e = convEntry(kFusedForward, p, residualOff >= 0, static_cast<int>(activation));
    memory xm(e.userSrcMd, eng(), a.at(a.integer(1), xCount)), wm(e.userWeiMd, eng(), wFolded);
    memory bm(memory::desc({Co}, dt::f32, tag::a), eng(), bias.data());
    memory ym(e.userDstMd, eng(), y);
    if (e.weiNeedsReorder) reorderWeights(e, wm, *e.weiBuf);
    e.prim.execute(s, {{DNNL_ARG_SRC, e.src.view(xm, true)},
                       {DNNL_ARG_WEIGHTS, e.weiNeedsReorder ? *e.weiBuf : wm},
                       {DNNL_ARG_BIAS, bm},
                       {DNNL_ARG_DST, e.dst.view(ym, residualOff >= 0)}});
    e.dst.back(ym);
    s.wait();
  });
}

size_t convCacheSize() { return convCache().size(); }
size_t convWinogradCount() {
  size_t n = 0;
  for (const auto& [key, entry] : convCache()) n += entry->winograd;
  return n;
}

}  // namespace gap
