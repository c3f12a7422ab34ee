// Data movement on 4-byte elements (float32 or int32): strided copies (transpose, slice, concat, pad),
// gather along an axis, and the segment sum that is gather's gradient.
#include <cstdint>
#include <cstring>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// stridedCopy(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape):
// dst[dstOffset + sum(i_d * dstStrides_d)] = src[srcOffset + sum(i_d * srcStrides_d)] for every index i of shape.
napi_value StridedCopy(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t srcLen, dstLen;
    const uint32_t* src = args.typed<uint32_t>(0, &srcLen);
    const int64_t srcOff = args.i64(1);
    const std::vector<int64_t> ss = args.ints(2);
    uint32_t* dst = args.typed<uint32_t>(3, &dstLen);
    const int64_t dstOff = args.i64(4);
    const std::vector<int64_t> ds = args.ints(5);
    const std::vector<int64_t> shape = args.ints(6);
    const int R = static_cast<int>(shape.size());
    if (static_cast<int>(ss.size()) != R || static_cast<int>(ds.size()) != R) throw ArgError{"stridedCopy: ranks differ"};
    if (R == 0) { dst[dstOff] = src[srcOff]; return; }
    const int64_t inner = shape[R - 1], si = ss[R - 1], di = ds[R - 1];
    int64_t outer = 1;
    for (int d = 0; d < R - 1; d++) outer *= shape[d];
    if (outer * inner == 0) return;
    // Bounds: the last element each side touches (strides are non-negative).
    int64_t srcMax = srcOff, dstMax = dstOff;
    for (int d = 0; d < R; d++) { srcMax += (shape[d] - 1) * ss[d]; dstMax += (shape[d] - 1) * ds[d]; }
    if (srcOff < 0 || dstOff < 0 || srcMax >= static_cast<int64_t>(srcLen) || dstMax >= static_cast<int64_t>(dstLen))
      throw ArgError{"stridedCopy: index out of range"};
    if (di == 1 && si != 1) {
      // A transpose-like copy: dst runs along the last axis, src along another axis k. Copy 32 x 32 tiles of
      // (k, last) so that both sides' cache lines are used whole (a row-by-row copy reads one src element per line).
      int k = -1;
      for (int d = R - 2; d >= 0; d--) if (ss[d] == 1 && shape[d] > 1) { k = d; break; }
      if (k >= 0) {
        const int64_t nk = shape[k], dk = ds[k];
        const int64_t rest = outer / nk;  // the axes other than k and the last
        constexpr int64_t kTile = 32;
        const int64_t tilesK = (nk + kTile - 1) / kTile, tilesI = (inner + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) num_threads(threadsFor(outer * inner / 2))
        for (int64_t t = 0; t < rest * tilesK * tilesI; t++) {
          const int64_t ti = t % tilesI, tk = (t / tilesI) % tilesK, o = t / (tilesI * tilesK);
          int64_t rem = o, os = srcOff, od = dstOff;
          for (int d = R - 2; d >= 0; d--) {
            if (d == k) continue;
            const int64_t idx = rem % shape[d];
            rem /= shape[d];
            os += idx * ss[d];
            od += idx * ds[d];
          }
          const int64_t k0 = tk * kTile, k1 = k0 + kTile < nk ? k0 + kTile : nk;
          const int64_t i0 = ti * kTile, i1 = i0 + kTile < inner ? i0 + kTile : inner;
          for (int64_t kk = k0; kk < k1; kk++)
            for (int64_t i = i0; i < i1; i++) dst[od + kk * dk + i] = src[os + kk + i * si];
        }
        return;
      }
    }
#pragma omp parallel for schedule(static) num_threads(threadsFor(outer * inner / 2))
    for (int64_t o = 0; o < outer; o++) {
      int64_t rem = o, os = srcOff, od = dstOff;
      for (int d = R - 2; d >= 0; d--) {
        const int64_t idx = rem % shape[d];
        rem /= shape[d];
        os += idx * ss[d];
        od += idx * ds[d];
      }
      if (si == 1 && di == 1) {
        std::memcpy(dst + od, src + os, inner * sizeof(uint32_t));
      } else {
        for (int64_t i = 0; i < inner; i++) dst[od + i * di] = src[os + i * si];
      }
    }
  });
}

// gather(x, indices, out, outer, axisDim, inner) -> number of out-of-range indices (0 when all valid).
// x is [outer, axisDim, inner], out is [outer, nIdx, inner].
napi_value Gather(napi_env env, napi_callback_info info) {
  int64_t bad = 0;
  napi_value result = guard(env, [&] {
    Args args(env, info);
    const uint32_t* x = args.typed<uint32_t>(0);
    size_t nIdx;
    const int32_t* idx = args.typed<int32_t>(1, &nIdx);
    uint32_t* out = args.typed<uint32_t>(2);
    const int64_t outer = args.i64(3), axisDim = args.i64(4), inner = args.i64(5);
    const int64_t n = static_cast<int64_t>(nIdx);
    for (int64_t i = 0; i < n; i++) if (idx[i] < 0 || idx[i] >= axisDim) bad++;
    if (bad) return;
#pragma omp parallel for schedule(static) num_threads(threadsFor(outer * n * inner / 2))
    for (int64_t t = 0; t < outer * n; t++) {
      const int64_t o = t / n, i = t % n;
      std::memcpy(out + t * inner, x + (o * axisDim + idx[i]) * inner, inner * sizeof(uint32_t));
    }
  });
  if (result) return result;
  napi_value v;
  napi_create_int64(env, bad, &v);
  return v;
}

// segmentSum(x, ids, out, numSegments, inner): out[ids[i], c] += x[i, c]; ids outside [0, numSegments) are dropped.
// out must be zero-filled by the caller. Threads split the columns, so no two write the same element.
napi_value SegmentSum(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const float* x = args.typed<float>(0);
    size_t nIds;
    const int32_t* ids = args.typed<int32_t>(1, &nIds);
    float* out = args.typed<float>(2);
    const int64_t numSegments = args.i64(3), inner = args.i64(4);
    const int64_t n = static_cast<int64_t>(nIds);
    const int64_t block = 256;
    const int64_t blocks = (inner + block - 1) / block;
#pragma omp parallel for schedule(static) num_threads(threadsFor(n * inner))
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t c0 = b * block, c1 = c0 + block < inner ? c0 + block : inner;
      for (int64_t i = 0; i < n; i++) {
        const int64_t s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const float* xr = x + i * inner;
        float* o = out + s * inner;
        for (int64_t c = c0; c < c1; c++) o[c] += xr[c];
      }
    }
  });
}

}  // namespace saelab
