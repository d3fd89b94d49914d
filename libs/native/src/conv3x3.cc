// Our own kernel for 3x3, stride-1, padding-1 convs onto 16 or 32 output channels
// (ResNet20's first two stages), in AVX-512 registers. oneDNN 2.6's brgconv ran
// the 16 -> 16 forward over 32x32 at about 220 GFLOP/s inside the network (two
// threads); a tile of output columns kept in registers, each input value
// broadcast once for all three filter columns it meets, ran it about 1.4x faster.
// From fewer than 16 input channels (an image stem) it takes any count: oneDNN ran
// the 3 -> 16 stem over 32x32 at about 110 GFLOP/s, this kernel at about 200.
#include "gap_native.h"

#include <immintrin.h>

#include <atomic>
#include <cstdlib>

namespace gap {

namespace {

std::atomic<uint64_t> calls{0};

// One tile: output row oh, columns ow0 .. ow0 + kColumns - 1, all Co = 16 * kBlocks
// channels. x is one image (nhwc), w is hwio.
template <int kBlocks>
__attribute__((target("avx512f"), always_inline)) inline void tile(const float* x, const float* w, const float* bias, const float* residual,
                                                                   float* y, int64_t H, int64_t W, int64_t Ci, int64_t oh, int64_t ow0,
                                                                   int activation) {
  constexpr int kColumns = 16 / kBlocks, Co = 16 * kBlocks;
  __m512 acc[kColumns][kBlocks];
#pragma GCC unroll 16
  for (int j = 0; j < kColumns; j++)
#pragma GCC unroll 2
    for (int b = 0; b < kBlocks; b++) {
      acc[j][b] = bias ? _mm512_loadu_ps(bias + 16 * b) : _mm512_setzero_ps();
      if (residual) acc[j][b] = _mm512_add_ps(acc[j][b], _mm512_loadu_ps(residual + (oh * W + ow0 + j) * Co + 16 * b));
    }
  // Input columns -1 and kColumns exist unless the tile touches the image's edge (zero padding).
  const bool left = ow0 == 0, right = ow0 + kColumns == W;
  for (int64_t kh = 0; kh < 3; kh++) {
    const int64_t ih = oh + kh - 1;
    if (ih < 0 || ih >= H) continue;
    const float* xc = x + (ih * W + ow0) * Ci;  // input column ow0, channel ci
    const float* wc = w + kh * 3 * Ci * Co;     // filter tap (kh, 0), channel ci
    for (int64_t ci = 0; ci < Ci; ci++, xc++, wc += Co) {
      __m512 wk[3][kBlocks];
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; kw++)
#pragma GCC unroll 2
        for (int b = 0; b < kBlocks; b++) wk[kw][b] = _mm512_loadu_ps(wc + kw * Ci * Co + 16 * b);
      // Input column c meets output column j = c + 1 - kw through filter column kw.
#pragma GCC unroll 18
      for (int c = -1; c <= kColumns; c++) {
        if ((c == -1 && left) || (c == kColumns && right)) continue;
        const __m512 xb = _mm512_set1_ps(xc[c * Ci]);
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++) {
          const int j = c + 1 - kw;
          if (j < 0 || j >= kColumns) continue;
#pragma GCC unroll 2
          for (int b = 0; b < kBlocks; b++) acc[j][b] = _mm512_fmadd_ps(xb, wk[kw][b], acc[j][b]);
        }
      }
    }
  }
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
#pragma GCC unroll 16
  for (int j = 0; j < kColumns; j++)
#pragma GCC unroll 2
    for (int b = 0; b < kBlocks; b++) {
      __m512 v = acc[j][b];
      // max and min return their second operand for a NaN: NaN stays NaN, as in tfjs's ReLU.
      if (activation == kRelu) v = _mm512_max_ps(zero, v);
      if (activation == kRelu6) v = _mm512_min_ps(six, _mm512_max_ps(zero, v));
      _mm512_storeu_ps(y + (oh * W + ow0 + j) * Co + 16 * b, v);
    }
}

template <int kBlocks>
__attribute__((target("avx512f"))) void rows(const float* x, const float* w, const float* bias, const float* residual, float* y, int64_t N,
                                             int64_t H, int64_t W, int64_t Ci, int activation) {
  constexpr int kColumns = 16 / kBlocks, Co = 16 * kBlocks;
  // Each output row on one thread, whole: the sums' order does not depend on the thread count.
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < N * H; r++) {
    const int64_t n = r / H, oh = r % H;
    const float* xn = x + n * H * W * Ci;
    const float* rn = residual ? residual + n * H * W * Co : nullptr;
    float* yn = y + n * H * W * Co;
    for (int64_t ow0 = 0; ow0 < W; ow0 += kColumns) tile<kBlocks>(xn, w, bias, rn, yn, H, W, Ci, oh, ow0, activation);
  }
}

}  // namespace

bool conv3x3Fits(int kind, const std::vector<int64_t>& p) {
  namespace cp = conv_param;
  // GAP_CONV3X3=0 leaves these convs to oneDNN, for measuring one against the other.
  static const char* setting = std::getenv("GAP_CONV3X3");
  static const bool on = __builtin_cpu_supports("avx512f") && !(setting && std::string(setting) == "0");
  if (!on || (kind != kForward && kind != kInputGradient && kind != kFusedForward)) return false;
  if (p[cp::KH] != 3 || p[cp::KW] != 3 || p[cp::groups] != 1) return false;
  if (p[cp::strideH] != 1 || p[cp::strideW] != 1 || p[cp::dilationH] != 1 || p[cp::dilationW] != 1) return false;
  if (p[cp::padTop] != 1 || p[cp::padLeft] != 1 || p[cp::padBottom] != 1 || p[cp::padRight] != 1) return false;
  // The input gradient is the same conv from Co channels onto Ci.
  const int64_t from = kind == kInputGradient ? p[cp::Co] : p[cp::Ci], onto = kind == kInputGradient ? p[cp::Ci] : p[cp::Co];
  return (from % 16 == 0 || from < 16) && (onto == 16 || onto == 32) && p[cp::W] % (16 / (onto / 16)) == 0;
}

void conv3x3(const float* x, const float* w, const float* bias, const float* residual, float* y, int64_t N, int64_t H, int64_t W,
             int64_t Ci, int64_t Co, int activation) {
  calls++;
  if (Co == 16) return rows<1>(x, w, bias, residual, y, N, H, W, Ci, activation);
  rows<2>(x, w, bias, residual, y, N, H, W, Ci, activation);
}

// dx = conv(dy, w') with w'[kh][kw][co][ci] = w[2 - kh][2 - kw][ci][co].
void conv3x3InputGradient(const float* dy, const float* w, float* dx, int64_t N, int64_t H, int64_t W, int64_t Ci, int64_t Co) {
  static std::vector<float> flipped;  // kept between calls: N-API calls come one at a time
  flipped.resize(9 * Ci * Co);
  for (int64_t kh = 0; kh < 3; kh++)
    for (int64_t kw = 0; kw < 3; kw++)
      for (int64_t ci = 0; ci < Ci; ci++)
        for (int64_t co = 0; co < Co; co++)
          flipped[((kh * 3 + kw) * Co + co) * Ci + ci] = w[(((2 - kh) * 3 + (2 - kw)) * Ci + ci) * Co + co];
  conv3x3(dy, flipped.data(), nullptr, nullptr, dx, N, H, W, Co, Ci, kNoActivation);
}

uint64_t conv3x3Calls() { return calls; }

}  // namespace gap
