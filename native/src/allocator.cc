// The C allocator behind every tensor's buffer (Node allocates ArrayBuffers with calloc/malloc).
// glibc serves large blocks with fresh mmaps, so each new tensor of a few MB page-faults all its pages in and each
// free unmaps them: on a virtual machine that was 10 of the 12 ms of a GELU over [1024, 3072]. allocatorTune keeps
// blocks under a size on the heap, reused; allocatorTrim gives free heap pages back to the system (before a stage
// loads its next model, so what is free is counted as free).
#include <cstdint>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "kernels.h"
#include "napi_util.h"

namespace saelab {

// allocatorTune(mmapThreshold, trimThreshold) -> whether the allocator took them (glibc only).
napi_value AllocatorTune(napi_env env, napi_callback_info info) {
  bool ok = false;
  guard(env, [&] {
    Args args(env, info);
    const int64_t mmapThreshold = args.i64(0), trimThreshold = args.i64(1);
    if (mmapThreshold <= 0 || trimThreshold <= 0 || mmapThreshold > (int64_t{1} << 30) || trimThreshold > (int64_t{1} << 31))
      throw ArgError{"allocatorTune: thresholds must be in (0, 1 GiB] and (0, 2 GiB]"};
#if defined(__GLIBC__)
    ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmapThreshold)) == 1 && mallopt(M_TRIM_THRESHOLD, static_cast<int>(trimThreshold)) == 1;
#endif
  });
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return nullptr;
  napi_value v;
  napi_get_boolean(env, ok, &v);
  return v;
}

// allocatorTrim(): return the heap's free pages to the system (malloc_trim); no-op elsewhere.
napi_value AllocatorTrim(napi_env env, napi_callback_info info) {
  (void)info;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

}  // namespace saelab
