// The loops of elementwise.h, compiled once per ISA (binding.gyp defines
// GAP_ISA), written with GCC vector extensions so that the OpenMP outlined
// bodies are vectorised too. Vectors have the register width (wider ones get
// their selects split into scalars); lanes are independent, so the width does
// not change results. The AVX-512 build uses 256-bit vectors as well (with
// AVX-512VL's masks and 32 registers): tensors on the wasm heap are only
// 8-byte aligned, and with two such inputs 512-bit loads, each split over two
// cache lines, measured up to 1.7x slower than 256-bit ones.
// Everything here has internal linkage and no standard-library templates are
// used: an inline function emitted by several variants could otherwise be
// merged by the linker into the AVX-512 copy and run on a CPU without AVX-512.
#include "elementwise.h"

#ifndef GAP_ISA
#error "compile with -DGAP_ISA=avx512|avx2|sse2 (binding.gyp)"
#endif

namespace {

#if defined(__AVX2__)
constexpr int64_t kLanes = 8;
#else
constexpr int64_t kLanes = 4;
#endif
typedef float vf __attribute__((vector_size(4 * kLanes)));
typedef float vfu __attribute__((vector_size(4 * kLanes), aligned(4), may_alias));

#define INLINE inline __attribute__((always_inline))

// Loops over more elements than this run on all OpenMP threads.
constexpr int64_t kParallel = 32768;

// Rows of a reduction block (~8192 floats): float sums over a block stay
// accurate before they are added in double, and moments()'s second pass over
// a block's column of one vector (<= 32 KB) reads it from L1.
INLINE int64_t blockRows(int64_t L) { return L >= 8192 ? 1 : 8192 / L; }

// The same code for a vector (vf) or for one float (the tail).
template <class T>
INLINE T ld(const float* p);
template <>
INLINE float ld<float>(const float* p) { return *p; }
template <>
INLINE vf ld<vf>(const float* p) { return *reinterpret_cast<const vfu*>(p); }
INLINE void st(float* p, float v) { *p = v; }
INLINE void st(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
template <class T>
INLINE T bc(float f) { return T{} + f; }
INLINE float sel(bool c, float a, float b) { return c ? a : b; }
template <class M>
INLINE vf sel(M c, vf a, vf b) { return c ? a : b; }

// ReLU's step: 1 where m > 0. For the fused BN + ReLU's gradient, dy * step(output)
// is bit for bit GapReluGrad's dy * step(x), except that a NaN output gives 0,
// not NaN (the forward already put the NaN in the loss).
template <class T>
INLINE T step(T m) { return sel(m > bc<T>(0), bc<T>(1), bc<T>(0)); }
// tfjs's ReLU: x < 0 ? 0 : x, NaN kept.
template <class T>
INLINE T reluOf(T v) { return sel(v < bc<T>(0), bc<T>(0), v); }

// acc[k] = sum of the K vectors f(i, v) over i = i0, i0 + L, ... < i1, in four
// interleaved partial sums (one would be latency-bound), added as (s0 + s1) + (s2 + s3).
template <int K, class F>
INLINE void sumColumn(int64_t i0, int64_t i1, int64_t L, vf (&acc)[K], F f) {
  vf s[4][K] = {};
  vf v[K];
  int64_t i = i0;
  for (; i + 3 * L < i1; i += 4 * L) {
    for (int u = 0; u < 4; u++) {
      f(i + u * L, v);
      for (int k = 0; k < K; k++) s[u][k] += v[k];
    }
  }
  for (; i < i1; i += L) {
    f(i, v);
    for (int k = 0; k < K; k++) s[0][k] += v[k];
  }
  for (int k = 0; k < K; k++) acc[k] = (s[0][k] + s[1][k]) + (s[2][k] + s[3][k]);
}

// f(T{}, i, p) for the element(s) at index i, row position p: a vector at a
// time over whole rows of L (threads split the rows), then one at a time. Each
// thread runs a copy of f (the lambdas capture by value), so its pointers
// stay in registers although the stores may alias anything.
template <class F>
void forEach(int64_t n, int64_t L, F f) {
  const int64_t rows = n / L;
#pragma omp parallel if (n > kParallel)
  {
    const F g = f;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      for (int64_t p = 0; p < L; p += kLanes) g(vf{}, r * L + p, p);
    }
  }
  for (int64_t i = rows * L; i < n; i++) f(0.0f, i, i - rows * L);
}

// out[k][p] (k < K, p < L) = sums per position: tile(r0, r1, p, o) writes
// the sums over rows r0..r1 of positions p + j (j < kLanes) to o[k * L + j]; elem(i, p,
// out) adds element i. Blocks are summed in block order, so results depend
// neither on the thread count nor on the ISA.
template <int K, class Tile, class Elem>
void reduceBlocks(int64_t n, int64_t L, double* const (&out)[K], Tile tile, Elem elem) {
  const int64_t rows = n / L, B = blockRows(L), blocks = (rows + B - 1) / B;
  double* part = new double[K * L * blocks + 1];
#pragma omp parallel if (n > kParallel)
  {
    const Tile t = tile;  // as in forEach
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t r0 = b * B, r1 = r0 + B < rows ? r0 + B : rows;
      for (int64_t p = 0; p < L; p += kLanes) t(r0, r1, p, part + b * K * L + p);
    }
  }
  for (int k = 0; k < K; k++) {
    for (int64_t p = 0; p < L; p++) out[k][p] = 0.0;
    for (int64_t b = 0; b < blocks; b++) {
      const double* src = part + (b * K + k) * L;
      for (int64_t p = 0; p < L; p++) out[k][p] += src[p];
    }
  }
  delete[] part;
  for (int64_t i = rows * L; i < n; i++) elem(i, i - rows * L, out);
}

void affine(const float* x, const float* mask, const float* a, const float* b, float* y, int64_t n, int64_t L,
            bool relu) {
  forEach(n, L, [=](auto w, int64_t i, int64_t p) {
    using T = decltype(w);
    T v = ld<T>(x + i);
    if (mask) v = v * step(ld<T>(mask + i));
    v = v * ld<T>(a + p) + ld<T>(b + p);
    st(y + i, relu ? reluOf(v) : v);
  });
}

// Per block and position: m = mean of the block's float sum, then the sums of
// d = x - m and d^2 in a second pass from L1; sum = B m + sum(d) and sum of
// squares = B m^2 + 2 m sum(d) + sum(d^2) in double. So the float sums never
// cancel (d is centred), whatever the mean, in one pass over memory.
void moments(const float* x, int64_t n, int64_t L, double* sum, double* sq) {
  double* const out[2] = {sum, sq};
  reduceBlocks<2>(
      n, L, out,
      [=](int64_t r0, int64_t r1, int64_t p, double* o) {
        const int64_t i0 = r0 * L + p, i1 = r1 * L, m = r1 - r0;
        vf s[1], t[2];
        sumColumn(i0, i1, L, s, [=](int64_t i, vf(&v)[1]) { v[0] = ld<vf>(x + i); });
        const vf mean = s[0] / static_cast<float>(m);
        sumColumn(i0, i1, L, t, [=](int64_t i, vf(&v)[2]) {
          v[0] = ld<vf>(x + i) - mean;
          v[1] = v[0] * v[0];
        });
        for (int j = 0; j < kLanes; j++) {
          const double mj = mean[j], d1 = t[0][j];
          o[j] = m * mj + d1;
          o[L + j] = m * mj * mj + 2 * mj * d1 + t[1][j];
        }
      },
      [&](int64_t i, int64_t p, double* const (&o)[2]) {
        o[0][p] += x[i];
        o[1][p] += static_cast<double>(x[i]) * x[i];
      });
}

// dy * step(mask), or dy.
template <class T>
INLINE T gradAt(const float* dy, const float* mask, int64_t i) {
  return mask ? ld<T>(dy + i) * step(ld<T>(mask + i)) : ld<T>(dy + i);
}

void bnGradSums(const float* x, const float* dy, const float* mask, const float* mu, int64_t n, int64_t L, double* sd,
                double* sdx) {
  double* const out[2] = {sd, sdx};
  reduceBlocks<2>(
      n, L, out,
      [=](int64_t r0, int64_t r1, int64_t p, double* o) {
        const vf mp = ld<vf>(mu + p);
        vf s[2];
        sumColumn(r0 * L + p, r1 * L, L, s, [=](int64_t i, vf(&v)[2]) {
          v[0] = gradAt<vf>(dy, mask, i);
          v[1] = v[0] * (ld<vf>(x + i) - mp);
        });
        for (int j = 0; j < kLanes; j++) {
          o[j] = s[0][j];
          o[L + j] = s[1][j];
        }
      },
      [&](int64_t i, int64_t p, double* const (&o)[2]) {
        const float d = gradAt<float>(dy, mask, i);
        o[0][p] += d;
        o[1][p] += d * (x[i] - mu[p]);
      });
}

void bnGradDx(const float* x, const float* dy, const float* mask, const float* k1, const float* k2, const float* k3,
              const float* mu, float* dx, int64_t n, int64_t L) {
  forEach(n, L, [=](auto w, int64_t i, int64_t p) {
    using T = decltype(w);
    const T d = gradAt<T>(dy, mask, i);
    st(dx + i, ld<T>(k1 + p) * d - ld<T>(k2 + p) - ld<T>(k3 + p) * (ld<T>(x + i) - ld<T>(mu + p)));
  });
}

template <class Op>
void binaryWith(Op op, const float* a, const float* b, float* out, int64_t n, int64_t L, bool aFull, bool bFull) {
  forEach(n, L, [=](auto w, int64_t i, int64_t p) {
    using T = decltype(w);
    st(out + i, op(ld<T>(a + (aFull ? i : p)), ld<T>(b + (bFull ? i : p))));
  });
}

void binary(int op, const float* a, const float* b, float* out, int64_t n, int64_t L, bool aFull, bool bFull) {
  auto run = [&](auto f) { binaryWith(f, a, b, out, n, L, aFull, bFull); };
  auto nanOr = [](auto p, auto q, auto v) {
    using T = decltype(v);
    return sel((p != p) | (q != q), bc<T>(__builtin_nanf("")), v);
  };
  switch (op) {
    case 0: run([](auto p, auto q) { return p + q; }); break;
    case 1: run([](auto p, auto q) { return p - q; }); break;
    case 2: run([](auto p, auto q) { return p * q; }); break;
    case 3: run([](auto p, auto q) { return p / q; }); break;
    case 4: run([=](auto p, auto q) { return nanOr(p, q, sel(p < q, p, q)); }); break;
    case 5: run([=](auto p, auto q) { return nanOr(p, q, sel(p > q, p, q)); }); break;
    default: run([](auto p, auto q) { return reluOf(p + q); }); break;
  }
}

void reluGrad(const float* dy, const float* x, float* dx, int64_t n) {
  forEach(n, kLanes, [=](auto w, int64_t i, int64_t) {
    using T = decltype(w);
    const T v = ld<T>(x + i);
    st(dx + i, ld<T>(dy + i) * sel(v != v, v, step(v)));
  });
}

void sgd(const float* w, const float* grad, const float* buf, float* wOut, float* bufOut, int64_t n, float lr, float m,
         float wd, bool nesterov, bool first) {
  forEach(n, kLanes, [=](auto tag, int64_t i, int64_t) {
    using T = decltype(tag);
    const T wv = ld<T>(w + i);
    T g = ld<T>(grad + i);
    if (wd != 0) g = g + wv * wd;
    T update = g;
    if (m != 0) {
      const T b = first ? g : ld<T>(buf + i) * m + g;
      st(bufOut + i, b);
      update = nesterov ? g + b * m : b;
    }
    st(wOut + i, wv - update * lr);
  });
}

void axpby(const float* a, const float* b, float* out, int64_t n, float alpha, float beta) {
  forEach(n, kLanes, [=](auto w, int64_t i, int64_t) {
    using T = decltype(w);
    st(out + i, ld<T>(a + i) * alpha + ld<T>(b + i) * beta);
  });
}

}  // namespace

#define GAP_CAT2(a, b) a##b
#define GAP_CAT(a, b) GAP_CAT2(a, b)
#define GAP_STR2(a) #a
#define GAP_STR(a) GAP_STR2(a)

const gap::Kernels gap::GAP_CAT(kernels_, GAP_ISA) = {
    GAP_STR(GAP_ISA), affine, moments, bnGradSums, bnGradDx, binary, reluGrad, sgd, axpby,
};
