// Kernel entry points exported to JavaScript (one Node-API function each).
#pragma once
#include <node_api.h>
#include "napi_util.h"

namespace saelab {
// out[bi] = op(a[bi % batchA]) @ op(b[bi % batchB]) (matmul.cc), threaded over the pool; callable from other kernels.
void batchedGemm(const float* a, const float* b, float* out, int64_t batch, int64_t batchA, int64_t batchB,
                 int64_t M, int64_t N, int64_t K, bool tA, bool tB);
// C[M, N] = op(A) op(B) with plain loops, row-major and contiguous (matmul.cc; what batchedGemm runs for tiny products).
void smallGemm(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K, bool tA, bool tB);
// out [rows, n] = a [rows, k] b [k, n] (+ bias) from a's nonzero entries (sparse.cc); false (nothing written) when
// a's density, estimated from a sample of rows, exceeds maxDensity.
bool sparseGemm(const float* a, int64_t rows, int64_t k, const float* b, int64_t n, const float* bias, float* out, double maxDensity);
napi_value Matmul(napi_env env, napi_callback_info info);
napi_value BiasActivation(napi_env env, napi_callback_info info);
napi_value Binary(napi_env env, napi_callback_info info);
napi_value Unary(napi_env env, napi_callback_info info);
napi_value Reduce(napi_env env, napi_callback_info info);
napi_value Softmax(napi_env env, napi_callback_info info);
napi_value Gather(napi_env env, napi_callback_info info);
napi_value SegmentSum(napi_env env, napi_callback_info info);
napi_value StridedCopy(napi_env env, napi_callback_info info);
napi_value Gelu(napi_env env, napi_callback_info info);
napi_value GeluGrad(napi_env env, napi_callback_info info);
napi_value Adam(napi_env env, napi_callback_info info);
napi_value Cast(napi_env env, napi_callback_info info);
napi_value Select(napi_env env, napi_callback_info info);
napi_value TopK(napi_env env, napi_callback_info info);
napi_value SparseMatmul(napi_env env, napi_callback_info info);
napi_value SaeTrainForward(napi_env env, napi_callback_info info);
napi_value LayerNorm(napi_env env, napi_callback_info info);
napi_value PairInsert(napi_env env, napi_callback_info info);
napi_value PairAccumulate(napi_env env, napi_callback_info info);
napi_value PairMergeRuns(napi_env env, napi_callback_info info);
napi_value PairRehash(napi_env env, napi_callback_info info);
napi_value PairSortBlocks(napi_env env, napi_callback_info info);
napi_value Attention(napi_env env, napi_callback_info info);
napi_value SaeTrainBackward(napi_env env, napi_callback_info info);
napi_value SetThreads(napi_env env, napi_callback_info info);
napi_value Bf16Info(napi_env env, napi_callback_info info);
napi_value Bf16Matmul(napi_env env, napi_callback_info info);
napi_value NonFinite(napi_env env, napi_callback_info info);
napi_value AllocatorTune(napi_env env, napi_callback_info info);
napi_value MapFile(napi_env env, napi_callback_info info);
napi_value AllocatorTrim(napi_env env, napi_callback_info info);
napi_value Info(napi_env env, napi_callback_info info);
}  // namespace saelab

// Runs body(); a saelab::ArgError it throws becomes a JS Error. Returns undefined (nullptr).
template <typename F>
inline napi_value guard(napi_env env, F body) {
  try {
    body();
  } catch (const saelab::ArgError& e) {
    napi_throw_error(env, "SAELAB_NATIVE_ARG", e.msg);
  }
  return nullptr;
}
