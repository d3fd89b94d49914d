// The memory-bound loops of gap_native (batch norm, elementwise ops, SGD),
// compiled three times (binding.gyp: AVX-512, AVX2 + FMA, x86-64 baseline)
// into one Kernels table each; gap_native.cc picks one at load time.
//
// Per-channel data of an [rows, C] tensor is walked as rows of L floats,
// L = lcm(C, 16) (periodOf and expand in gap_native.cc repeat per-channel
// vectors to length L), so every loop works on whole vectors (8 or 4 floats)
// with no per-row remainder; position p of a row is channel p % C. n need not
// be a multiple of L: the last n % L elements run as scalars.
//
// All variants compute the same float operations in the same order (no FMA
// contraction, fixed reduction blocks), so they agree bit for bit, whatever
// the thread count.
#pragma once

#include <cstdint>

namespace gap {

struct Kernels {
  const char* isa;
  // y = x * a[p] + b[p]; mask: x * step(mask) first; relu: max(0, .) (NaN kept).
  void (*affine)(const float* x, const float* mask, const float* a, const float* b, float* y, int64_t n, int64_t L,
                 bool relu);
  // sum[p] and sq[p]: sums of x and x^2 per position (double; L doubles each).
  void (*moments)(const float* x, int64_t n, int64_t L, double* sum, double* sq);
  // With d = dy * step(mask) (or dy): sd[p] = sum of d, sdx[p] = sum of d * (x - mu[p]).
  void (*bnGradSums)(const float* x, const float* dy, const float* mask, const float* mu, int64_t n, int64_t L,
                     double* sd, double* sdx);
  // dx = k1[p] * d - k2[p] - k3[p] * (x - mu[p]), d as in bnGradSums.
  void (*bnGradDx)(const float* x, const float* dy, const float* mask, const float* k1, const float* k2,
                   const float* k3, const float* mu, float* dx, int64_t n, int64_t L);
  // out = a op b; a (b) is n floats when aFull (bFull), else L per-position values.
  // op: 0 add, 1 sub, 2 mul, 3 div, 4 min, 5 max (NaN-propagating), 6 relu(a + b).
  void (*binary)(int op, const float* a, const float* b, float* out, int64_t n, int64_t L, bool aFull, bool bFull);
  // dx = dy * step(x), NaN where x is NaN (tfjs's ReLU gradient).
  void (*reluGrad)(const float* dy, const float* x, float* dx, int64_t n);
  // torch.optim.SGD on n floats, float32 ops in the order of train/sgd.ts:
  //   g = grad + w * wd (wd != 0); b = first ? g : buf * m + g; step = nesterov ? g + b * m : b (m = 0: g);
  //   wOut = w - step * lr; bufOut = b (m != 0).
  void (*sgd)(const float* w, const float* grad, const float* buf, float* wOut, float* bufOut, int64_t n, float lr,
              float m, float wd, bool nesterov, bool first);
  // out = a * alpha + b * beta (float32 ops; batch norm's running statistics).
  void (*axpby)(const float* a, const float* b, float* out, int64_t n, float alpha, float beta);
};

// One per variant, named by binding.gyp's GAP_ISA define.
extern const Kernels kernels_avx512, kernels_avx2, kernels_sse2;

}  // namespace gap
