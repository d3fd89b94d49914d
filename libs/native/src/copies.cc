// Strided copies: slice and constant padding of rank <= 4 tensors, concatenation.
#include "gap_native.h"

namespace gap {

// ------------------------------------------------------------------ slice

// slice4(heap, x, y, shape[4], begin[4], size[4]): y = x[b0:b0+s0, ...]
// for 4-byte elements; lower ranks are padded with leading 1s by the caller.
napi_value Slice4(napi_env env, napi_callback_info info) {
  return exported(env, info, 6, 0, [&](Args& a) {
    const auto sh = a.intArray(3, 4), b = a.intArray(4, 4), sz = a.intArray(5, 4);
    for (int i = 0; i < 4; i++) {
      if (b[i] < 0 || sz[i] < 0 || b[i] + sz[i] > sh[i]) throw ArgError("slice out of range");
    }
    const float* x = a.at(a.integer(1), sh[0] * sh[1] * sh[2] * sh[3]);
    float* y = a.at(a.integer(2), sz[0] * sz[1] * sz[2] * sz[3]);
    const int64_t outer = sz[0] * sz[1];
#pragma omp parallel for schedule(static) if (outer * sz[2] * sz[3] > 65536)
    for (int64_t o = 0; o < outer; o++) {
      const int64_t i0 = o / sz[1] + b[0], i1 = o % sz[1] + b[1];
      for (int64_t i2 = 0; i2 < sz[2]; i2++) {
        const float* src = x + ((i0 * sh[1] + i1) * sh[2] + i2 + b[2]) * sh[3] + b[3];
        float* dst = y + (o * sz[2] + i2) * sz[3];
        std::memcpy(dst, src, sizeof(float) * sz[3]);
      }
    }
  });
}

// pad4(heap, x, y, shape[4], before[4], after[4], value): constant padding of
// a float32 tensor of rank <= 4 (leading 1s added by the caller). The wasm
// PadV2 took ~5 ms for ResNet's channel padding of 128x16x16x16.
napi_value Pad4(napi_env env, napi_callback_info info) {
  return exported(env, info, 7, 0, [&](Args& a) {
    const auto sh = a.intArray(3, 4), lo = a.intArray(4, 4), hi = a.intArray(5, 4);
    const float value = static_cast<float>(a.num(6));
    int64_t out[4];
    for (int i = 0; i < 4; i++) {
      if (sh[i] < 0 || lo[i] < 0 || hi[i] < 0) throw ArgError("negative pad or shape");
      out[i] = lo[i] + sh[i] + hi[i];
    }
    const float* x = a.at(a.integer(1), sh[0] * sh[1] * sh[2] * sh[3]);
    float* y = a.at(a.integer(2), out[0] * out[1] * out[2] * out[3]);
    const int64_t outer = out[0] * out[1];
#pragma omp parallel for schedule(static) if (outer * out[2] * out[3] > 65536)
    for (int64_t o = 0; o < outer; o++) {
      const int64_t i0 = o / out[1] - lo[0], i1 = o % out[1] - lo[1];
      const bool rowIn = i0 >= 0 && i0 < sh[0] && i1 >= 0 && i1 < sh[1];
      for (int64_t j2 = 0; j2 < out[2]; j2++) {
        float* dst = y + (o * out[2] + j2) * out[3];
        const int64_t i2 = j2 - lo[2];
        if (!rowIn || i2 < 0 || i2 >= sh[2]) {
          std::fill(dst, dst + out[3], value);
          continue;
        }
        std::fill(dst, dst + lo[3], value);
        std::memcpy(dst + lo[3], x + ((i0 * sh[1] + i1) * sh[2] + i2) * sh[3], sizeof(float) * sh[3]);
        std::fill(dst + lo[3] + sh[3], dst + out[3], value);
      }
    }
  });
}

// ------------------------------------------------------------------ concat

// concatRows(heap, y, rows, count, xs[count], widths[count]): each of y's `rows`
// rows is x0's row, then x1's, ...: a concatenation along the last axis of
// [rows, width_i] views of 4-byte elements. tfjs's wasm Concat copies row by
// row in JS (6.4 ms of GoogLeNet's training step for its 9 concatenations).
napi_value ConcatRows(napi_env env, napi_callback_info info) {
  return exported(env, info, 6, 0, [&](Args& a) {
    const int64_t rows = a.integer(2), count = a.integer(3);
    if (rows < 0 || count < 1) throw ArgError("concat needs rows >= 0 and at least one input");
    const auto offsets = a.intArray(4, count), widths = a.intArray(5, count);
    std::vector<const float*> xs(count);
    int64_t total = 0;
    for (int64_t i = 0; i < count; i++) {
      if (widths[i] < 0) throw ArgError("negative concat width");
      xs[i] = a.at(offsets[i], rows * widths[i]);
      total += widths[i];
    }
    float* y = a.at(a.integer(1), rows * total);
#pragma omp parallel for schedule(static) if (rows * total > 65536)
    for (int64_t r = 0; r < rows; r++) {
      float* dst = y + r * total;
      for (int64_t i = 0; i < count; i++) {
        std::memcpy(dst, xs[i] + r * widths[i], sizeof(float) * widths[i]);
        dst += widths[i];
      }
    }
  });
}

}  // namespace gap
