// nonFinite: how many values of a stored tensor are NaN or +-inf, and the first one's index, on every core.
// Weights and activations are checked where they enter saelab (lib/io/finite.ts); for a 124M-parameter model
// the JavaScript loop was a tenth of `saelab cache`.
#include <cstdint>
#include <cstring>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

namespace {

// Count of indices in [begin, end) whose value is flagged, and the first one (-1: none).
template <typename T, typename Flag>
void countRange(const T* d, int64_t begin, int64_t end, Flag flagged, int64_t* count, int64_t* first) {
  int64_t c = 0;
  // branch-free count first (vectorises); the first index only when there is one
  for (int64_t i = begin; i < end; i++) c += flagged(d[i]) ? 1 : 0;
  *count = c;
  *first = -1;
  if (c == 0) return;
  for (int64_t i = begin; i < end; i++) {
    if (flagged(d[i])) { *first = i; return; }
  }
}

template <typename T, typename Flag>
void countAll(const T* d, int64_t n, Flag flagged, double* out) {
  const int threads = threadsFor(n);
  int64_t counts[256], firsts[256];
  const int T_ = threads > 256 ? 256 : threads;
  parallelChunks(n, T_, [&](int64_t b, int64_t e) {
    const int t = omp_get_thread_num();
    countRange(d, b, e, flagged, &counts[t], &firsts[t]);
  });
  int64_t total = 0, first = -1;
  for (int t = 0; t < T_; t++) {
    total += counts[t];
    if (first < 0 && firsts[t] >= 0) first = firsts[t];
  }
  out[0] = static_cast<double>(total);
  out[1] = static_cast<double>(first);
}

inline bool f32Flag(uint32_t bits) { return (bits & 0x7f800000u) == 0x7f800000u; }
inline bool f64Flag(uint64_t bits) { return (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull; }

}  // namespace

// nonFinite(data, kind, out): kind 0 float32, 1 float64, 2 float16 bits, 3 bfloat16 bits (data a Uint16Array);
// out (Float64Array of 2) = [count, first index or -1]. An all-ones exponent is inf or NaN in every format.
napi_value NonFinite(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t n, no;
    const int64_t kind = args.i64(1);
    double* out = args.typed<double>(2, &no);
    if (no < 2) throw ArgError{"nonFinite: out needs 2 entries"};
    switch (kind) {
      case 0: {
        const uint32_t* d = args.typed<uint32_t>(0, &n);
        countAll(d, static_cast<int64_t>(n), [](uint32_t b) { return f32Flag(b); }, out);
        break;
      }
      case 1: {
        const uint64_t* d = args.typed<uint64_t>(0, &n);
        countAll(d, static_cast<int64_t>(n), [](uint64_t b) { return f64Flag(b); }, out);
        break;
      }
      case 2: {
        const uint16_t* d = args.typed<uint16_t>(0, &n);
        countAll(d, static_cast<int64_t>(n), [](uint16_t b) { return (b & 0x7c00) == 0x7c00; }, out);
        break;
      }
      case 3: {
        const uint16_t* d = args.typed<uint16_t>(0, &n);
        countAll(d, static_cast<int64_t>(n), [](uint16_t b) { return (b & 0x7f80) == 0x7f80; }, out);
        break;
      }
      default: throw ArgError{"nonFinite: unknown kind"};
    }
  });
}

}  // namespace saelab
