// Reductions over the middle axis of [outer, r, inner] and the row softmax, split across OpenMP threads.
#include <cmath>
#include <cstdint>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// Reduce op codes shared with lib/backend/nativeKernels/reduce.ts.
enum ReduceOp { kSum = 0, kMax, kMin, kProd, kMean, kArgMax, kArgMin };

// Columns handled by one task when inner > 1 (keeps the accumulator in cache).
constexpr int64_t kColBlock = 512;

template <int OP>
static inline double init(float first) {
  if constexpr (OP == kSum || OP == kMean) return 0.0;
  else if constexpr (OP == kProd) return 1.0;
  else return first;
}

template <int OP>
static inline double step(double acc, float v) {
  if constexpr (OP == kSum || OP == kMean) return acc + v;
  else if constexpr (OP == kProd) return acc * v;
  else if constexpr (OP == kMax) return (std::isnan(v) || v > acc) ? v : acc;
  else return (std::isnan(v) || v < acc) ? v : acc;
}

template <int OP>
static void reduceLoop(const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  const double scale = (OP == kMean) ? 1.0 / static_cast<double>(r) : 1.0;
  if (inner == 1) {
#pragma omp parallel for schedule(static) num_threads(threadsFor(outer * r))
    for (int64_t o = 0; o < outer; o++) {
      const float* row = x + o * r;
      if (r == 0) { out[o] = static_cast<float>(init<OP>(0.f)); continue; }
      if constexpr (OP == kSum || OP == kMean) {
        // Four partial sums: vectorisable and still accumulated in double.
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t j = 0;
        for (; j + 4 <= r; j += 4) { s0 += row[j]; s1 += row[j + 1]; s2 += row[j + 2]; s3 += row[j + 3]; }
        for (; j < r; j++) s0 += row[j];
        out[o] = static_cast<float>((s0 + s1 + s2 + s3) * scale);
      } else {
        double acc = init<OP>(row[0]);
        for (int64_t j = 0; j < r; j++) acc = step<OP>(acc, row[j]);
        out[o] = static_cast<float>(acc);
      }
    }
    return;
  }
  const int64_t blocks = (inner + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) num_threads(threadsFor(outer * r * inner))
  for (int64_t t = 0; t < outer * blocks; t++) {
    const int64_t o = t / blocks;
    const int64_t c0 = (t % blocks) * kColBlock;
    const int64_t c1 = c0 + kColBlock < inner ? c0 + kColBlock : inner;
    double acc[kColBlock];
    const float* base = x + o * r * inner;
    for (int64_t c = c0; c < c1; c++) acc[c - c0] = init<OP>(r > 0 ? base[c] : 0.f);
    for (int64_t j = 0; j < r; j++) {
      const float* row = base + j * inner;
      for (int64_t c = c0; c < c1; c++) acc[c - c0] = step<OP>(acc[c - c0], row[c]);
    }
    float* po = out + o * inner;
    for (int64_t c = c0; c < c1; c++) po[c] = static_cast<float>(acc[c - c0] * scale);
  }
}

// First index of the max (or min) along r; NaN wins as in the cpu kernel's comparisons (it never does).
template <bool MAX>
static void argLoop(const float* x, int32_t* out, int64_t outer, int64_t r, int64_t inner) {
#pragma omp parallel for schedule(static) num_threads(threadsFor(outer * r * inner))
  for (int64_t t = 0; t < outer * inner; t++) {
    const int64_t o = t / inner, c = t % inner;
    const float* base = x + o * r * inner + c;
    float best = base[0];
    int32_t bi = 0;
    for (int64_t j = 1; j < r; j++) {
      const float v = base[j * inner];
      if (MAX ? v > best : v < best) { best = v; bi = static_cast<int32_t>(j); }
    }
    out[t] = bi;
  }
}

// reduce(op, x, out, outer, r, inner): out[o, c] = reduce_j x[o, j, c]. out is Int32Array for arg ops.
napi_value Reduce(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const int op = static_cast<int>(args.i64(0));
    const float* x = args.typed<float>(1);
    const int64_t outer = args.i64(3), r = args.i64(4), inner = args.i64(5);
    switch (op) {
      case kSum: reduceLoop<kSum>(x, args.typed<float>(2), outer, r, inner); break;
      case kMax: reduceLoop<kMax>(x, args.typed<float>(2), outer, r, inner); break;
      case kMin: reduceLoop<kMin>(x, args.typed<float>(2), outer, r, inner); break;
      case kProd: reduceLoop<kProd>(x, args.typed<float>(2), outer, r, inner); break;
      case kMean: reduceLoop<kMean>(x, args.typed<float>(2), outer, r, inner); break;
      case kArgMax: argLoop<true>(x, args.typed<int32_t>(2), outer, r, inner); break;
      case kArgMin: argLoop<false>(x, args.typed<int32_t>(2), outer, r, inner); break;
      default: throw ArgError{"reduce: unknown op"};
    }
  });
}

// softmax(x, out, rows, cols, log): softmax (or log-softmax) of each row of [rows, cols].
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const float* x = args.typed<float>(0);
    float* out = args.typed<float>(1);
    const int64_t rows = args.i64(2), cols = args.i64(3);
    const bool log = args.i64(4) != 0;
#pragma omp parallel for schedule(static) num_threads(threadsFor(rows * cols * 8))
    for (int64_t rI = 0; rI < rows; rI++) {
      const float* xr = x + rI * cols;
      float* o = out + rI * cols;
      float mx = -INFINITY;
      bool nan = false;
      for (int64_t c = 0; c < cols; c++) { if (std::isnan(xr[c])) nan = true; if (xr[c] > mx) mx = xr[c]; }
      if (nan) { for (int64_t c = 0; c < cols; c++) o[c] = NAN; continue; }
      double sum = 0;
      for (int64_t c = 0; c < cols; c++) { const float e = std::exp(xr[c] - mx); o[c] = e; sum += e; }
      if (log) {
        const float ls = static_cast<float>(std::log(sum));
        for (int64_t c = 0; c < cols; c++) o[c] = (xr[c] - mx) - ls;
      } else {
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t c = 0; c < cols; c++) o[c] *= inv;
      }
    }
  });
}

}  // namespace saelab
