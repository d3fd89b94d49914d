// The optimizer step: one torch.optim.SGD step of a parameter as one pass (GapSgd).
#include "gap_native.h"

namespace gap {

// ---------------------------------------------------------- optimizer step
// The same float32 operations, in the same order, as the tf ops they replace
// (sgdUpdate in ml-core's runtime/fused-ops.ts), so bit for bit equal to them; built with -ffp-contract=off so
// that no multiply-add is fused.

// g = grad + w * wd (wd > 0); buf = first ? g : buf * m + g (m > 0);
// step = nesterov ? g + buf * m : buf (or g without momentum); w -= step * lr.
// wOut may be w and bufOut buf (GapSgd's overwrite): element i is read before it is written, by itself only.
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
  return exported(env, info, 11, 0, [&](Args& a) {
    const int64_t n = a.integer(6);
    const float lr = static_cast<float>(a.num(7)), m = static_cast<float>(a.num(8)), wd = static_cast<float>(a.num(9));
    const float* buf = m > 0 ? a.optional(3, n) : nullptr;
    float* bufOut = m > 0 ? a.at(a.integer(5), n) : nullptr;
    sgdRows(a.at(a.integer(1), n), a.at(a.integer(2), n), buf, a.at(a.integer(4), n), bufOut, n, lr, m, wd, a.integer(10) != 0);
  });
}

}  // namespace gap
