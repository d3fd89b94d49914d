// Max pooling and its gradient as threaded passes.
#include "gap_native.h"

namespace gap {

// The pooling parameters (pool_param: N, H, W, C, OH, OW, KH, KW, strideH, strideW,
// padTop, padLeft) at argument `index`, checked.
std::vector<int64_t> poolParams(Args& a, size_t index) {
  auto p = a.intArray(index, pool_param::count);
  for (auto v : p)
    if (v < 0) throw ArgError("negative pooling parameter");
  if (p[pool_param::strideH] < 1 || p[pool_param::strideW] < 1) throw ArgError("pooling strides must be positive");
  return p;
}

// Max pool: y[n, oh, ow, c] = max over the window's taps inside the image
// (padding taps skipped; -inf for a window of padding only, as tfjs's cpu
// kernel). One output row per OpenMP iteration, the channel loop vectorised.
void maxPoolRows(const float* x, float* y, const int64_t* p) {
  namespace pp = pool_param;
  const int64_t N = p[pp::N], H = p[pp::H], W = p[pp::W], C = p[pp::C], OH = p[pp::OH], OW = p[pp::OW], KH = p[pp::KH], KW = p[pp::KW];
  const int64_t sH = p[pp::strideH], sW = p[pp::strideW], top = p[pp::padTop], left = p[pp::padLeft];
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

// maxPool(heap, x, y, p: pool_param): the max over each window
napi_value MaxPool(napi_env env, napi_callback_info info) {
  return exported(env, info, 4, 0, [&](Args& a) {
    const auto p = poolParams(a, 3);
    namespace pp = pool_param;
    maxPoolRows(a.at(a.integer(1), p[pp::N] * p[pp::H] * p[pp::W] * p[pp::C]), a.at(a.integer(2), p[pp::N] * p[pp::OH] * p[pp::OW] * p[pp::C]), p.data());
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
  namespace pp = pool_param;
  const int64_t N = p[pp::N], H = p[pp::H], W = p[pp::W], C = p[pp::C], OH = p[pp::OH], OW = p[pp::OW], KH = p[pp::KH], KW = p[pp::KW];
  const int64_t sH = p[pp::strideH], sW = p[pp::strideW], top = p[pp::padTop], left = p[pp::padLeft];
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

// maxPoolGrad(heap, dy, x, dx, p: pool_param): each window's dy goes to its first
// maximum (row-major).
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return exported(env, info, 5, 0, [&](Args& a) {
    const auto p = poolParams(a, 4);
    namespace pp = pool_param;
    const int64_t N = p[pp::N], H = p[pp::H], W = p[pp::W], C = p[pp::C], OH = p[pp::OH], OW = p[pp::OW];
    if (H * W * C >= (int64_t{1} << 31)) throw ArgError("image too large for the pooling gradient");
    maxPoolGradImages(a.at(a.integer(1), N * OH * OW * C), a.at(a.integer(2), N * H * W * C), a.at(a.integer(3), N * H * W * C), p.data());
  });
}

}  // namespace gap
