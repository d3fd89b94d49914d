// Reductions and products on the addon's threads: matmul (oneDNN) and the sum over
// every axis but the last (batch_norm.cc's channelMoments, in double).
#include "gap_native.h"

namespace gap {

// ------------------------------------------------------------------ matmul

// c[b] = op(a[b]) op(b[b]) for p = [B, M, K, N, transposeA, transposeB], row-major:
// a [B, M, K] (transposed: [B, K, M]), b [B, K, N] (transposed: [B, N, K]), c [B, M, N];
// transposes are strides on oneDNN's memory descriptors, no copies. Primitives cached by p.
void matmul(const float* a, const float* b, float* c, const std::vector<int64_t>& p) {
  namespace mp = matmul_param;
  const int64_t B = p[mp::batch], M = p[mp::M], K = p[mp::K], N = p[mp::N];
  const bool tA = p[mp::transposeA] != 0, tB = p[mp::transposeB] != 0;
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
  memory am(aMd, eng(), const_cast<float*>(a)), bm(bMd, eng(), const_cast<float*>(b)), cm(cMd, eng(), c);
  it->second.execute(strm(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  strm().wait();
}

// matmul(heap, a, b, c, [B, M, K, N, transposeA, transposeB]): the product above.
napi_value MatMul(napi_env env, napi_callback_info info) {
  return exported(env, info, 5, 0, [&](Args& a) {
    namespace mp = matmul_param;
    const auto p = a.intArray(4, mp::count);
    const int64_t B = p[mp::batch], M = p[mp::M], K = p[mp::K], N = p[mp::N];
    matmul(a.at(a.integer(1), B * M * K), a.at(a.integer(2), B * K * N), a.at(a.integer(3), B * M * N), p);
  });
}

// sum[c] += x[r, c] over the rows (one thread). A free function over raw pointers,
// as channelMoments is, so that gcc vectorises it.
static void sliceSum(const float* x, double* sum, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) sum[c] += xr[c];
  }
}

// channelSum(heap, x, out, outer, rows, C, divisor): out[o, c] = (sum of x[o, r, c]
// over the rows) / divisor, summed in double: tfjs's Sum (divisor 1) and Mean
// (divisor rows) over a run of axes before the last. The wasm kernels transpose
// first: Sum over all axes but the last (outer 1, a bias's gradient) took ~8 ms for
// 128x32x32x64, Mean over [1, 2] (global average pooling) 0.9 ms for 128x8x8x64.
// Outer 1 splits the rows over the threads; outer > 1 the slices.
napi_value ChannelSum(napi_env env, napi_callback_info info) {
  return exported(env, info, 7, 0, [&](Args& a) {
    const int64_t outer = a.integer(3), rows = a.integer(4), C = a.integer(5);
    const double divisor = a.num(6);
    if (outer < 1 || rows < 0 || C < 1) throw ArgError("channelSum needs outer >= 1, rows >= 0 and C >= 1");
    const float* x = a.at(a.integer(1), outer * rows * C);
    float* out = a.at(a.integer(2), outer * C);
    if (outer == 1) {
      std::vector<double> sum(C);
      channelMoments(x, sum.data(), nullptr, rows, C);
      for (int64_t c = 0; c < C; c++) out[c] = static_cast<float>(sum[c] / divisor);
      return;
    }
#pragma omp parallel if (outer * rows * C > 32768)
    {
      std::vector<double> sum(C);
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; o++) {
        std::fill(sum.begin(), sum.end(), 0.0);
        sliceSum(x + o * rows * C, sum.data(), rows, C);
        for (int64_t c = 0; c < C; c++) out[o * C + c] = static_cast<float>(sum[c] / divisor);
      }
    }
  });
}

}  // namespace gap
