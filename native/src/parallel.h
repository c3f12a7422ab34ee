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

// Activation codes shared with JavaScript (lib/backend/native.ts).
enum Activation { kLinear = 0, kRelu = 1, kRelu6 = 2, kElu = 3, kLeakyRelu = 4, kSigmoid = 5 };

}  // namespace saelab
