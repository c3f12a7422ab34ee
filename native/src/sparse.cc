// Sparse-times-dense products for SAE decoding: out = a b (+ bias) where most of a's entries are 0 (an SAE's
// feature activations: tens active out of tens of thousands). Each output row is built from the rows of b that
// its nonzero entries select, so the work is nnz(a) * n instead of rows * k * n.
#include <cstdint>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// out[0..n) += v * w[0..n)
SAELAB_VECTOR_CLONES static void axpy(float* __restrict out, float v, const float* __restrict w, int64_t n) {
  for (int64_t c = 0; c < n; c++) out[c] += v * w[c];
}

// Indices of the nonzero entries of x[0..k) into idx; returns their count. NaN counts as nonzero (it propagates).
SAELAB_VECTOR_CLONES static int64_t nonzeros(const float* __restrict x, int64_t k, int32_t* __restrict idx) {
  int64_t cnt = 0;
  int64_t j0 = 0;
  for (; j0 + 16 <= k; j0 += 16) {
    int any = 0;
    for (int64_t j = j0; j < j0 + 16; j++) any |= x[j] != 0.f;
    if (!any) continue;
    for (int64_t j = j0; j < j0 + 16; j++)
      if (x[j] != 0.f) idx[cnt++] = static_cast<int32_t>(j);
  }
  for (int64_t j = j0; j < k; j++)
    if (x[j] != 0.f) idx[cnt++] = static_cast<int32_t>(j);
  return cnt;
}

SAELAB_VECTOR_CLONES static int64_t countNonzeros(const float* __restrict x, int64_t len) {
  int64_t cnt = 0;
  for (int64_t i = 0; i < len; i++) cnt += x[i] != 0.f;
  return cnt;
}

// sparseMatmul(a, rows, k, b, n, bias|null, out, maxDensity) -> true when done; false (nothing written) when the
// fraction of nonzero entries of a [rows, k], estimated from a sample of rows, exceeds maxDensity (then a dense
// GEMM is faster; the caller runs it).
// b is [k, n], bias [n], out [rows, n]. Row r of out is bias + the sum over j with a[r, j] != 0, in increasing j,
// of a[r, j] b[j, :] (float32 accumulation, as a dense product's, in another order).
bool sparseGemm(const float* a, int64_t rows, int64_t k, const float* b, int64_t n, const float* bias, float* out, double maxDensity) {
  // density estimated from up to 64 evenly spaced rows (a full count would read a once more: as long as the product)
  const int64_t sampled = rows < 64 ? rows : 64;
  int64_t nnz = 0;
  for (int64_t i = 0; i < sampled; i++) nnz += countNonzeros(a + (i * rows / sampled) * k, k);
  if (static_cast<double>(nnz) > maxDensity * static_cast<double>(sampled * k)) return false;
  const int64_t estimate = sampled ? nnz * (rows / sampled) : 0;
  // rows are independent; a thread takes a contiguous run of rows so its writes stay in its own cache lines
#pragma omp parallel num_threads(threadsFor(estimate * n + rows * k / 8))
  {
    std::vector<int32_t> idx(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      float* o = out + r * n;
      if (bias) for (int64_t c = 0; c < n; c++) o[c] = bias[c];
      else for (int64_t c = 0; c < n; c++) o[c] = 0.f;
      const float* ar = a + r * k;
      const int64_t cnt = nonzeros(ar, k, idx.data());
      for (int64_t q = 0; q < cnt; q++) axpy(o, ar[idx[q]], b + static_cast<int64_t>(idx[q]) * n, n);
    }
  }
  return true;
}

napi_value SparseMatmul(napi_env env, napi_callback_info info) {
  bool done = false;
  napi_value err = guard(env, [&] {
    Args args(env, info);
    size_t na, nb, no;
    const float* a = args.typed<float>(0, &na);
    const int64_t rows = args.i64(1), k = args.i64(2);
    const float* b = args.typed<float>(3, &nb);
    const int64_t n = args.i64(4);
    size_t nbias = 0;
    const float* bias = args.isNull(5) ? nullptr : args.typed<float>(5, &nbias);
    float* out = args.typed<float>(6, &no);
    const double maxDensity = args.f64(7);
    if (static_cast<int64_t>(na) != rows * k || static_cast<int64_t>(nb) != k * n || static_cast<int64_t>(no) != rows * n ||
        (bias && static_cast<int64_t>(nbias) != n))
      throw ArgError{"sparseMatmul: sizes differ"};
    done = sparseGemm(a, rows, k, b, n, bias, out, maxDensity);
  });
  if (err != nullptr) return err;
  napi_value result;
  napi_get_boolean(env, done, &result);
  return result;
}

}  // namespace saelab
