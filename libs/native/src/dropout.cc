// Seeded inverted dropout as one threaded pass (GapDropout).
#include "gap_native.h"

namespace gap {

// ------------------------------------------------------------------ dropout
// y = x * (u_i >= rate ? keep : 0), u_i = fmix32(seed + i * 0x9e3779b9) / 2^32
// (murmur3's finaliser over a Weyl sequence): the same integer hash as
// dropoutMultiplier in ml-core's runtime/fused-ops.ts, so both give the same bits. A multiply,
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

// dropout(heap, x, y, n, rate, seed): dropoutRows with keep = 1 / (1 - rate) rounded to
// float, as dropoutMultiplier's Float32Array store rounds it.
napi_value Dropout(napi_env env, napi_callback_info info) {
  return exported(env, info, 6, 0, [&](Args& a) {
    const int64_t n = a.integer(3);
    const double rate = a.num(4), seed = a.num(5);
    if (!(rate >= 0 && rate < 1) || !(seed >= 0 && seed < 4294967296.0)) throw ArgError("dropout needs 0 <= rate < 1 and a uint32 seed");
    dropoutRows(a.at(a.integer(1), n), a.at(a.integer(2), n), n, rate * 4294967296.0, static_cast<float>(1.0 / (1.0 - rate)),
                static_cast<uint32_t>(seed));
  });
}

}  // namespace gap
