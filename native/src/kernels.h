// Kernel entry points exported to JavaScript (one Node-API function each).
#pragma once
#include <node_api.h>
#include "napi_util.h"

namespace saelab {
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
napi_value SetThreads(napi_env env, napi_callback_info info);
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
