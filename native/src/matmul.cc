// Batched matrix multiply over OpenBLAS's cblas_sgemm, and the fused bias + activation epilogue.
#include <cblas.h>
#include <cmath>
#include <cstdlib>
#include <string>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// One row-major product C[M,N] = op(A) op(B) for small sizes, with plain loops (no BLAS call overhead).
void smallGemm(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K, bool tA, bool tB) {
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

// C[m, n] (row stride ldc) = op(A) op(B) for the sub-block of a product whose full op(A) is [M, K] (A's leading
// dimension is K, or M when transposed) and op(B) [K, N].
static inline void gemm(const float* A, const float* B, float* C, int64_t m, int64_t n, int64_t K, bool tA, bool tB, int64_t M, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans,
              (blasint)m, (blasint)n, (blasint)K, 1.0f, A, (blasint)(tA ? M : K),
              B, (blasint)(tB ? K : ldc), 0.0f, C, (blasint)ldc);
}

// Threads of the pool (SAELAB_NATIVE_THREADS / setThreads).
static int poolThreads = 1;
// OpenBLAS built with OpenMP runs its threads in our pool (one pool for every kernel); other builds (pthreads)
// keep a pool of their own, which we then leave at one thread so the two never run at once.
static bool blasSharesPool() { return openblas_get_parallel() == 2; }

// Whether a product runs as one OpenBLAS call threaded by OpenBLAS itself (large single products, with a BLAS
// that uses our OpenMP pool): opt-in with SAELAB_NATIVE_BLAS_THREADING=blas. By default saelab splits the product
// into row (or column) blocks across the pool, one single-threaded OpenBLAS call each: on 2 shared cores this
// measured as fast per CPU second and degrades less when a thread is descheduled (no barrier between the
// threads' panels).
static bool blasThreadsItself(int64_t batch, int64_t flopsPer) {
  static const bool wanted = [] { const char* e = std::getenv("SAELAB_NATIVE_BLAS_THREADING"); return e && std::string(e) == "blas"; }();
  if (!wanted || !blasSharesPool() || poolThreads <= 1) return false;
  // a product big enough that each thread gets at least ~2 MFLOP of it, and few of them
  return batch < poolThreads * 2 && flopsPer >= (int64_t)poolThreads * (1 << 21);
}

// out[bi] = op(a[bi % batchA]) @ op(b[bi % batchB]) for bi < batch; a is [batchA, M, K] ([batchA, K, M] when tA).
void batchedGemm(const float* a, const float* b, float* out, int64_t batch, int64_t batchA, int64_t batchB,
                 int64_t M, int64_t N, int64_t K, bool tA, bool tB) {
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
  if (blasThreadsItself(batch, flopsPer)) {
    // One large product at a time, threaded by OpenBLAS across the whole pool: it shares the packed panels of
    // B between threads (splitting rows ourselves would pack all of B once per thread).
    for (int64_t bi = 0; bi < batch; bi++)
      gemm(a + (bi % batchA) * sizeA, b + (bi % batchB) * sizeB, out + bi * sizeC, M, N, K, tA, tB, M, N);
    return;
  }
  // Many products (attention heads) or a BLAS without a shared pool: work split into batch x row-block (or
  // column-block) tasks across our OpenMP threads, OpenBLAS single-threaded inside each.
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
    gemm(A, B, C, m, n, K, tA, tB, M, N);
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
    batchedGemm(a, b, out, batch, batchA, batchB, M, N, K, tA, tB);
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

// setThreads(n): threads for every kernel (OpenMP).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const int n = static_cast<int>(args.i64(0));
    if (n > 0) {
      omp_set_num_threads(n);
      poolThreads = n;
      // OpenMP OpenBLAS: its threads are our pool's (it runs single-threaded inside a parallel region);
      // pthreads OpenBLAS: one thread, called from inside our pool's threads.
      openblas_set_num_threads(blasSharesPool() ? n : 1);
    }
  });
}

}  // namespace saelab
