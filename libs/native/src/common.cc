// The N-API glue and oneDNN's engine and stream (gap_native.h).
#include "gap_native.h"

namespace gap {

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& strm() {
  static dnnl::stream s(eng());
  return s;
}

void adviseHugePages(uint8_t* heap, size_t len) {
  static uint8_t* advisedHeap = nullptr;
  static size_t advisedLen = 0;
  if (heap == advisedHeap && len == advisedLen) return;
  advisedHeap = heap;
  advisedLen = len;
  const uintptr_t huge = 2u << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(heap) + huge - 1) & ~(huge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(heap) + len) & ~(huge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

}  // namespace gap
