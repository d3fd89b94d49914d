// Batch norm (inference, training forward and backward, running statistics) and channel sums as threaded passes.
#include "gap_native.h"

#include <immintrin.h>

#include <type_traits>

namespace gap {

// ------------------------------------------------------------ batch norm

// Inference batch norm as one pass y = x * a[c] + b[c], with
// a = scale / sqrt(var + eps) and b = offset - mean * a computed in double
// (PyTorch's CPU inference form). oneDNN 2.6's nhwc batch norm runs on one
// thread for C <= 64 (see below): 4.4 ms for 128x32x32x16 vs ~1 ms here.
// mean / scale / shift may be -1 (0, 1, 0): the batch-norm gradient wrt x is
// this kernel on dy with mean and shift absent.
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

// batchNormInference(heap, x, mean|-1, var, scale|-1, shift|-1, y, N, H, W, C, eps, relu, mask|-1):
// channelAffine; relu != 0: the fused BN + ReLU; mask: x * step(mask) first (that
// kernel's input gradient, mask = its output).
napi_value BatchNormInference(napi_env env, napi_callback_info info) {
  return exported(env, info, 14, 0, [&](Args& a) {
    const int64_t N = a.integer(7), H = a.integer(8), W = a.integer(9), C = a.integer(10);
    const double eps = a.num(11);
    const bool relu = a.integer(12) != 0;
    const int64_t rows = N * H * W, count = rows * C;
    const float* x = a.at(a.integer(1), count);
    float* y = a.at(a.integer(6), count);
    const float* mask = a.optional(13, count);
    const float* var = a.at(a.integer(3), C);
    const float *mean = a.optional(2, C), *scale = a.optional(4, C), *shift = a.optional(5, C);
    std::vector<float> mul(C), add(C);
    for (int64_t c = 0; c < C; c++) {
      const double k = (scale ? scale[c] : 1.0) / std::sqrt(static_cast<double>(var[c]) + eps);
      mul[c] = static_cast<float>(k);
      add[c] = static_cast<float>((shift ? shift[c] : 0.0) - (mean ? mean[c] : 0.0) * k);
    }
    channelAffine(x, mul.data(), add.data(), y, rows, C, relu, mask);
  });
}

// Training-mode batch norm by hand: oneDNN 2.6's nhwc batch norm parallelises
// over 16-channel blocks, so with C = 16..64 it runs on one thread with a poor
// access pattern (measured ~16 ms forward for 128x32x32x16 vs ~2 ms here).
// Rows (N*H*W) are split over the OpenMP threads; per-channel sums in double.

// The per-channel sums of channelMoments and bnBackwardRows with each thread's
// accumulators in AVX-512 registers, for C a multiple of 8 up to 64 (kRegisterBlocks
// blocks of 8 channels, one __m512d of doubles each). As arrays in memory every row's
// add waited on the previous row's store: the moments pass over 128x32x32x16 took
// ~0.8 ms of the forward's 1.2. A ResNet20 training step (batch 128, two threads):
// batch-norm forward 12.6 -> 7.5 ms, backward 17.0 -> 9.2 ms. The same operations in
// the same order, rows split over the threads by the same schedule(static): the same bits.
constexpr int kRegisterBlocks = 8;

bool registerSums(int64_t C) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && C % 8 == 0 && C / 8 <= kRegisterBlocks;
}

// Calls f(std::integral_constant<int, C / 8>) (C as registerSums allows): the block count as a constant.
template <typename F>
void withBlocks(int64_t C, F&& f) {
  switch (C / 8) {
    case 1: return f(std::integral_constant<int, 1>());
    case 2: return f(std::integral_constant<int, 2>());
    case 3: return f(std::integral_constant<int, 3>());
    case 4: return f(std::integral_constant<int, 4>());
    case 5: return f(std::integral_constant<int, 5>());
    case 6: return f(std::integral_constant<int, 6>());
    case 7: return f(std::integral_constant<int, 7>());
    case 8: return f(std::integral_constant<int, 8>());
  }
  throw std::logic_error("withBlocks: C must be 8..64 and a multiple of 8");
}

// Each thread's sums of x and (kSquares) x^2 over its rows into partial[thread]: channelMoments' loop.
template <int B, bool kSquares>
__attribute__((target("avx512f"))) void momentsInRegisters(const float* x, int64_t rows, std::vector<std::vector<double>>& partial) {
  constexpr int C = 8 * B;
#pragma omp parallel
  {
    __m512d s1[B], s2[B];
    for (int b = 0; b < B; b++) s1[b] = s2[b] = _mm512_setzero_pd();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      for (int b = 0; b < B; b++) {
        const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + r * C + 8 * b));
        s1[b] = _mm512_add_pd(s1[b], v);
        if (kSquares) s2[b] = _mm512_add_pd(s2[b], _mm512_mul_pd(v, v));
      }
    }
    std::vector<double> local(2 * C);
    for (int b = 0; b < B; b++) {
      _mm512_storeu_pd(&local[8 * b], s1[b]);
      _mm512_storeu_pd(&local[C + 8 * b], s2[b]);
    }
    partial[omp_get_thread_num()] = std::move(local);
  }
}

// Each thread's sums of d and d * (x - mean), d = dy (kMask: dy * stepOf(mask)), into
// partial[thread]: bnBackwardRows' first loop.
template <int B, bool kMask>
__attribute__((target("avx512f"))) void backwardSumsInRegisters(const float* x, const float* dy, const float* mask, const float* mean, int64_t rows,
                                                                std::vector<std::vector<double>>& partial) {
  constexpr int C = 8 * B;
#pragma omp parallel
  {
    __m512d sd[B], sdx[B];
    __m256 mu[B];
    for (int b = 0; b < B; b++) {
      sd[b] = sdx[b] = _mm512_setzero_pd();
      mu[b] = _mm256_loadu_ps(mean + 8 * b);
    }
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      for (int b = 0; b < B; b++) {
        const int64_t i = r * C + 8 * b;
        __m256 d = _mm256_loadu_ps(dy + i);
        if (kMask) d = _mm256_mul_ps(d, _mm256_and_ps(_mm256_cmp_ps(_mm256_loadu_ps(mask + i), zero, _CMP_GT_OQ), one));
        const __m512d dd = _mm512_cvtps_pd(d);
        const __m512d xc = _mm512_cvtps_pd(_mm256_sub_ps(_mm256_loadu_ps(x + i), mu[b]));
        sd[b] = _mm512_add_pd(sd[b], dd);
        sdx[b] = _mm512_add_pd(sdx[b], _mm512_mul_pd(dd, xc));
      }
    }
    std::vector<double> local(2 * C);
    for (int b = 0; b < B; b++) {
      _mm512_storeu_pd(&local[8 * b], sd[b]);
      _mm512_storeu_pd(&local[C + 8 * b], sdx[b]);
    }
    partial[omp_get_thread_num()] = std::move(local);
  }
}

// Per-channel sum and sum of squares of x over the rows, in one pass and in
// double (a float's square is exact in double; with n ~ 1e5 rows the relative
// error of E[x^2] - E[x]^2 stays ~1e-11 * (1 + mean^2 / var)). Per-thread
// partials are added in thread order (deterministic). A free function over raw
// pointers: as a lambda over captured references gcc did not vectorise it.
// sumSq null: the sums alone (the Sum kernel over all axes but the last).
void channelMoments(const float* x, double* sum, double* sumSq, int64_t rows, int64_t C) {
  std::vector<std::vector<double>> partial(omp_get_max_threads());
  const bool squares = sumSq != nullptr;
  if (registerSums(C)) {
    withBlocks(C, [&](auto blocks) {
      constexpr int B = decltype(blocks)::value;
      squares ? momentsInRegisters<B, true>(x, rows, partial) : momentsInRegisters<B, false>(x, rows, partial);
    });
  } else {
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

// batchNormTrain(heap, x, scale, shift, y, mean, var, N, H, W, C, eps, relu): mean
// and var are outputs (biased variance); relu != 0: y = max(0, ...).
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  return exported(env, info, 13, 0, [&](Args& a) {
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
  });
}

// The backward's first pass: each thread's sums of d and d * (x - mean) over its rows
// into partial[thread], d = dyAt(i).
template <typename D>
void backwardSums(const float* x, D dyAt, const float* meanIn, int64_t rows, int64_t C, std::vector<std::vector<double>>& partial) {
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
}

// The backward's second pass: dx = k1 * dyAt(i) - k2 - k3 * (x - mean), per channel.
template <typename D>
void backwardDx(const float* x, D dyAt, const float* k1, const float* k2, const float* k3, const float* mean, float* dx, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* dxr = dx + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxr[c] = k1[c] * dyAt(r * C + c) - k2[c] - k3[c] * (xr[c] - mean[c]);
  }
}

// Batch-norm backward in two passes over the rows: per-channel sums of dy and
// dy * (x - mean) together (per-thread partials in double, added in thread
// order so results do not depend on timing), then dx. mask (or null): the fused
// BN + ReLU's output, dy * stepOf(mask) read on the fly as the ReLU's gradient.
void bnBackwardRows(const float* x, const float* dy, const float* mask, const float* meanIn, const float* varIn, const float* gamma, float* dx,
                    float* dgamma, float* dbeta, int64_t rows, int64_t C, double eps) {
  const auto masked = [=](int64_t i) { return dy[i] * stepOf(mask[i]); };
  const auto plain = [=](int64_t i) { return dy[i]; };
  std::vector<std::vector<double>> partial(omp_get_max_threads());
  if (registerSums(C)) {
    withBlocks(C, [&](auto blocks) {
      constexpr int B = decltype(blocks)::value;
      mask ? backwardSumsInRegisters<B, true>(x, dy, mask, meanIn, rows, partial) : backwardSumsInRegisters<B, false>(x, dy, mask, meanIn, rows, partial);
    });
  } else if (mask) {
    backwardSums(x, masked, meanIn, rows, C, partial);
  } else {
    backwardSums(x, plain, meanIn, rows, C, partial);
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
  std::vector<float> k1(C), k2(C), k3(C);
  const double M = static_cast<double>(rows);
  for (int64_t c = 0; c < C; c++) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(varIn[c]) + eps);
    dbeta[c] = static_cast<float>(sumDy[c]);
    dgamma[c] = static_cast<float>(sumDyXc[c] * inv);
    const double g = gamma[c] * inv;
    k1[c] = static_cast<float>(g);
    k2[c] = static_cast<float>(g * sumDy[c] / M);
    k3[c] = static_cast<float>(g * inv * inv * sumDyXc[c] / M);
  }
  if (mask) {
    backwardDx(x, masked, k1.data(), k2.data(), k3.data(), meanIn, dx, rows, C);
  } else {
    backwardDx(x, plain, k1.data(), k2.data(), k3.data(), meanIn, dx, rows, C);
  }
}

// batchNormBackward(heap, x, dy, mean, var, scale, dx, dscale, dshift, N, H, W, C, eps, mask|-1):
// mask: dy * step(mask) first (mask = the fused BN + ReLU's output).
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  return exported(env, info, 15, 0, [&](Args& a) {
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
    const float* mask = a.optional(14, count);
    bnBackwardRows(x, dy, mask, meanIn, varIn, gamma, dx, dgamma, dbeta, rows, C, eps);
  });
}

// The running statistics' update: the float32 operations of blendRunningStats's tf
// ops in their order (bit for bit; -ffp-contract=off, binding.gyp).
void blendRows(const float* running, const float* batch, float* out, int64_t n, float keep, float take) {
  for (int64_t i = 0; i < n; i++) out[i] = running[i] * keep + batch[i] * take;
}

// batchNormUpdate(heap, runMean, runVar, mean, var, runMeanOut, runVarOut, C, momentum):
// running = running * (1 - momentum) + batch * momentum, for both statistics.
napi_value BatchNormUpdate(napi_env env, napi_callback_info info) {
  return exported(env, info, 9, 0, [&](Args& a) {
    const int64_t C = a.integer(7);
    const double m = a.num(8);
    for (int k = 0; k < 2; k++) {
      blendRows(a.at(a.integer(1 + k), C), a.at(a.integer(3 + k), C), a.at(a.integer(5 + k), C), C, static_cast<float>(1 - m),
                static_cast<float>(m));
    }
  });
}

}  // namespace gap
