// Elementwise passes: fake quantization, binary ops (per channel or same shape) and the gated ReLU gradients.
#include "gap_native.h"

namespace gap {

// ------------------------------------------------------- fake quantization
// y = (clamp(round(x / scale) + zp, qmin, qmax) - zp) * scale, round half to even:
// the float32 operations of fakeQuantize's tf ops (ml-core's runtime/fused-ops.ts)
// in their order, so bit for bit equal to them (round half to even as tf.round;
// -ffp-contract=off). NaN stays NaN, as through the cpu backend's clip (wasm's gives qmin).
// nearbyint in the default rounding mode (ties to even), in operations that vectorise:
// std::nearbyint is a libm call per element on the baseline x86-64 this builds for
// (6.2 ms for 4M floats, against 1 ms for a ReLU). Below 2^23, adding and subtracting
// 2^23 rounds |v| to an integer the way the FPU rounds; from 2^23 on (and inf, NaN)
// v is returned as it is, already integral. copysign keeps -0 and the sign of -0.4.
inline float roundHalfEven(float v) {
  const float a = std::fabs(v);
  const float rounded = std::copysign((a + 8388608.0f) - 8388608.0f, v);
  return a < 8388608.0f ? rounded : v;
}

// The division makes this pass compute-bound: built for baseline x86-64 (SSE, 4 floats at a
// time) it took 1.1-1.4 ms per 2M floats on one thread, against 0.8 ms for an AddRelu pass
// that moves more bytes. An AVX-512 clone, picked at load time where the CPU has it, took
// 0.4-0.5 ms. IEEE division rounds the same at any width: both clones give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
void fakeQuantizeRows(const float* x, float* y, int64_t n, float scale, float zp, float qmin, float qmax) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    const float q = roundHalfEven(x[i] / scale) + zp;
    // Compares on values (std::min/max kept gcc from vectorising); NaN stays NaN: both compare false.
    const float low = q < qmin ? qmin : q;
    const float clamped = qmax < low ? qmax : low;
    y[i] = (clamped - zp) * scale;
  }
}

// fakeQuantize(heap, x, y, n, scale, zeroPoint, qmin, qmax):
// y = (clamp(round(x / scale) + zp, qmin, qmax) - zp) * scale (fakeQuantize in fused-ops.ts, bit for bit)
napi_value FakeQuantize(napi_env env, napi_callback_info info) {
  return exported(env, info, 8, 0, [&](Args& a) {
    const int64_t n = a.integer(3);
    const double scale = a.num(4);
    if (!(scale > 0)) throw ArgError("fake quantization needs scale > 0");
    fakeQuantizeRows(a.at(a.integer(1), n), a.at(a.integer(2), n), n, static_cast<float>(scale), static_cast<float>(a.num(5)),
                     static_cast<float>(a.num(6)), static_cast<float>(a.num(7)));
  });
}

// ------------------------------------------------------------ elementwise
// The wasm backend's broadcasting path (x[..., C] op y[C]) costs ~2-4 ms per
// 2M elements. Its same-shape ops are SIMD and memory-bound: the TypeScript side
// (runtime/native/elementwise.ts) sends them here only from 2^18 elements, where
// two threads win.

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
  return exported(env, info, 9, 1, [&](Args& a) {
    const int op = static_cast<int>(a.integer(0));
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
      case kAdd: run([](float p, float q) { return p + q; }); break;
      case kSub: run([](float p, float q) { return p - q; }); break;
      case kMul: run([](float p, float q) { return p * q; }); break;
      case kDiv: run([](float p, float q) { return p / q; }); break;
      case kMin: run([](float p, float q) { return (p != p || q != q) ? NAN : (p < q ? p : q); }); break;
      case kMax: run([](float p, float q) { return (p != p || q != q) ? NAN : (p > q ? p : q); }); break;
      case kAddRelu: run([](float p, float q) { return reluOf(p + q); }); break;
      default: throw ArgError("binary op must be 0..6");
    }
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
  return exported(env, info, 5, 0, [&](Args& a) {
    const int64_t n = a.integer(4);
    gatedRows(a.at(a.integer(1), n), a.at(a.integer(2), n), a.at(a.integer(3), n), n, upper);
  });
}

// sign(heap, x, y, n): y = -1, 1 or 0 as x < 0, x > 0 or neither (+-0, NaN), as tfjs's
// cpu Sign: PGD's and FGSM's step direction. A ResNet20 PGD-10 batch (128 images):
// 24.5 ms on wasm's kernel, 5.3 ms here.
void signRows(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? -1.0f : (x[i] > 0.0f ? 1.0f : 0.0f);
}

napi_value Sign(napi_env env, napi_callback_info info) {
  return exported(env, info, 4, 0, [&](Args& a) {
    const int64_t n = a.integer(3);
    signRows(a.at(a.integer(1), n), a.at(a.integer(2), n), n);
  });
}

// reluGrad(heap, dy, x, dx, n): dx = dy * (x > 0); relu6Grad: dx = dy * (0 < x <= 6), tfjs's
napi_value ReluGrad(napi_env env, napi_callback_info info) { return gatedGradient(env, info, INFINITY); }
napi_value Relu6Grad(napi_env env, napi_callback_info info) { return gatedGradient(env, info, 6.0f); }
// relu6OutputGrad(heap, dy, y, dx, n): ReLU6's gradient from its output y (the
// fused conv's): 0 < y < 6. It differs from the input-side 0 < x <= 6 only at x = 6 exactly.
napi_value Relu6OutputGrad(napi_env env, napi_callback_info info) { return gatedGradient(env, info, std::nextafter(6.0f, 0.0f)); }

}  // namespace gap
