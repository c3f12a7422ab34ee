// mapFile: a file's bytes as an ArrayBuffer backed by a private memory mapping (no read into a fresh buffer).
// Reading a 0.5 GB checkpoint with read() page-faults a fresh buffer in and copies every byte from the page cache;
// a mapping shares the page cache's pages until written (MAP_PRIVATE: a write copies that page, the file never
// changes), so the bytes are there as soon as they are touched. The mapping is released when the ArrayBuffer is
// collected; V8 is told its size so it collects such buffers as it would its own.
#include <sys/mman.h>
#include <unistd.h>
#include <cstdint>
#include "kernels.h"
#include "napi_util.h"

namespace saelab {

namespace {
struct Mapping {
  void* base;
  size_t length;
};

void ReleaseMapping(napi_env env, void* data, void* hint) {
  (void)data;
  Mapping* m = static_cast<Mapping*>(hint);
  int64_t adjusted;
  napi_adjust_external_memory(env, -static_cast<int64_t>(m->length), &adjusted);
  munmap(m->base, m->length);
  delete m;
}
}  // namespace

// mapFile(fd, offset, length) -> ArrayBuffer of `length` bytes viewing the file from byte `offset`, or null when the
// system refuses the mapping (the caller then reads). The file must not shrink while the buffer lives (SIGBUS).
napi_value MapFile(napi_env env, napi_callback_info info) {
  napi_value result = nullptr;
  guard(env, [&] {
    Args args(env, info);
    const int64_t fd = args.i64(0), offset = args.i64(1), length = args.i64(2);
    if (fd < 0 || offset < 0 || length <= 0) throw ArgError{"mapFile: needs fd >= 0, offset >= 0, length > 0"};
    const int64_t page = sysconf(_SC_PAGESIZE);
    const int64_t start = offset - offset % page, delta = offset - start;
    const size_t total = static_cast<size_t>(length + delta);
    void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE, static_cast<int>(fd), start);
    if (base == MAP_FAILED) {
      napi_get_null(env, &result);
      return;
    }
    madvise(base, total, MADV_WILLNEED);
    Mapping* m = new Mapping{base, total};
    if (napi_create_external_arraybuffer(env, static_cast<char*>(base) + delta, static_cast<size_t>(length), ReleaseMapping, m, &result) != napi_ok) {
      munmap(base, total);
      delete m;
      result = nullptr;
      napi_get_null(env, &result);
      return;
    }
    int64_t adjusted;
    napi_adjust_external_memory(env, static_cast<int64_t>(total), &adjusted);
  });
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return nullptr;
  return result;
}

}  // namespace saelab
