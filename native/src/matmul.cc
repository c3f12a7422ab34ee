// Batched matrix multiply over OpenBLAS's cblas_sgemm, and the fused bias + activation epilogue.
#include <cblas.h>
#include <cmath>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// One row-major product C[M,N] = op(A) op(B) for small sizes, with plain loops (no BLAS call overhead).
static void smallGemm(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K, bool tA, bool tB) {
  for (int64_t i = 0; i < M; i++) {
    float* c = C + i * N;
    for (int64_t j = 0; j < N; j++) c[j] = 0.f;
    for (int64_t k = 0; k < K; k++) {
      const float a = tA ? A[k * M + i] : A[i * K + k];
      if (!tB) {
        const float* b = B + k * N;
        for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
      } else {
        for (int64_t j = 0; j < N; j++) c[j] += a * B[j * K + k];
      }
    }
  }
}

// matmul(a, b, out, batch, batchA, batchB, M, N, K, transA, transB)
// out[bi] = op(a[bi % batchA]) @ op(b[bi % batchB]); a is [batchA, M, K] (or [batchA, K, M] when transA).
napi_value Matmul(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const float* a = args.typed<float>(0);
    const float* b = args.typed<float>(1);
    float* out = args.typed<float>(2);
    const int64_t batch = args.i64(3), batchA = args.i64(4), batchB = args.i64(5);
    const int64_t M = args.i64(6), N = args.i64(7), K = args.i64(8);
    const bool tA = args.i64(9) != 0, tB = args.i64(10) != 0;
    const int64_t sizeA = M * K, sizeB = K * N, sizeC = M * N;
    if (K == 0) {
      for (int64_t i = 0; i < batch * sizeC; i++) out[i] = 0.f;
      return;
    }
    const int64_t flopsPer = M * N * K;
    if (flopsPer <= 16 * 16 * 16) {
      // Tiny products: plain loops, the batch spread across threads.
#pragma omp parallel for schedule(static) num_threads(threadsFor(batch * flopsPer / 8))
      for (int64_t bi = 0; bi < batch; bi++)
        smallGemm(a + (bi % batchA) * sizeA, b + (bi % batchB) * sizeB, out + bi * sizeC, M, N, K, tA, tB);
      return;
    }
    // OpenBLAS runs single-threaded inside our OpenMP threads (one thread pool for every kernel, no
    // second pool spinning beside it). Work is split into batch x row-block (or column-block) tasks.
    const int threads = threadsFor(batch * flopsPer / 64);
    const bool splitRows = M >= N;
    const int64_t along = splitRows ? M : N;
    int64_t parts = 1;
    if (batch < threads) parts = (threads + batch - 1) / batch;
    if (parts > along) parts = along;
    const int64_t chunk = (along + parts - 1) / parts;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t t = 0; t < batch * parts; t++) {
      const int64_t bi = t / parts;
      const int64_t p0 = (t % parts) * chunk;
      const int64_t p1 = p0 + chunk < along ? p0 + chunk : along;
      if (p0 >= p1) continue;
      const float* A = a + (bi % batchA) * sizeA;
      const float* B = b + (bi % batchB) * sizeB;
      float* C = out + bi * sizeC;
      int64_t m = M, n = N;
      if (splitRows) {
        A += tA ? p0 : p0 * K;  // rows p0..p1 of op(A)
        C += p0 * N;
        m = p1 - p0;
      } else {
        B += tB ? p0 * K : p0;  // columns p0..p1 of op(B)
        C += p0;
        n = p1 - p0;
      }
      cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans,
                  (blasint)m, (blasint)n, (blasint)K, 1.0f, A, (blasint)(tA ? M : K),
                  B, (blasint)(tB ? K : N), 0.0f, C, (blasint)N);
    }
  });
}

static inline float activate(float x, int act, float alpha) {
  switch (act) {
    case kRelu: return x < 0.f ? 0.f : x;
    case kRelu6: return std::isnan(x) ? x : (x < 0.f ? 0.f : (x > 6.f ? 6.f : x));
    case kElu: return x >= 0.f ? x : std::expm1(x);
    case kLeakyRelu: return x < 0.f ? alpha * x : x;
    case kSigmoid: return 1.f / (1.f + std::exp(-x));
    default: return x;
  }
}

// biasActivation(x, out, rows, cols, bias|null, act, alpha): out[r, c] = act(x[r, c] + bias[c]); out may be x.
napi_value BiasActivation(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const float* x = args.typed<float>(0);
    float* out = args.typed<float>(1);
    const int64_t rows = args.i64(2), cols = args.i64(3);
    const float* bias = args.isNull(4) ? nullptr : args.typed<float>(4);
    const int act = static_cast<int>(args.i64(5));
    const float alpha = static_cast<float>(args.f64(6));
#pragma omp parallel for schedule(static) num_threads(threadsFor(rows * cols))
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      if (bias) {
        if (act == kLinear) {
          for (int64_t c = 0; c < cols; c++) o[c] = xr[c] + bias[c];
        } else if (act == kRelu) {
          for (int64_t c = 0; c < cols; c++) { const float v = xr[c] + bias[c]; o[c] = v < 0.f ? 0.f : v; }
        } else {
          for (int64_t c = 0; c < cols; c++) o[c] = activate(xr[c] + bias[c], act, alpha);
        }
      } else {
        for (int64_t c = 0; c < cols; c++) o[c] = activate(xr[c], act, alpha);
      }
    }
  });
}

// setThreads(n): threads for every kernel (OpenMP); OpenBLAS itself stays single-threaded per call.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const int n = static_cast<int>(args.i64(0));
    if (n > 0) {
      omp_set_num_threads(n);
      openblas_set_num_threads(1);  // BLAS calls run inside our OpenMP threads
    }
  });
}

}  // namespace saelab
