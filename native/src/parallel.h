// Shared helpers for OpenMP-parallel loops: only spread work across threads when it is big enough.
#pragma once
#include <cstdint>
#include <omp.h>

namespace saelab {

// Elements below which a loop runs on one thread (thread wake-up costs more than it saves).
constexpr int64_t kParallelGrain = 1 << 15;

// Number of threads worth using for `work` elements.
inline int threadsFor(int64_t work) {
  if (work < kParallelGrain) return 1;
  int t = omp_get_max_threads();
  int64_t byWork = work / kParallelGrain;
  return static_cast<int>(byWork < t ? (byWork < 1 ? 1 : byWork) : t);
}

// Run f(begin, end) on `threads` contiguous chunks of [0, n), one per OpenMP thread.
template <typename F>
inline void parallelChunks(int64_t n, int threads, F f) {
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    f(n * t / T, n * (t + 1) / T);
  }
}

// Compile a loop for AVX-512, AVX2 and the baseline, picked at load time by the CPU (GCC/clang ifuncs on
// x86-64 Linux); elsewhere the baseline only. The addon itself is built without -march so it stays portable.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define SAELAB_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SAELAB_VECTOR_CLONES
#endif

// Activation codes shared with JavaScript (lib/backend/native.ts).
enum Activation { kLinear = 0, kRelu = 1, kRelu6 = 2, kElu = 3, kLeakyRelu = 4, kSigmoid = 5 };

}  // namespace saelab
