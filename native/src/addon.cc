// saelab_native: the Node-API addon behind saelab's `native` TF.js backend.
// Every function works in place on TypedArrays owned by JavaScript (no native allocations kept; pairAccumulate copies
// the pair tables it grows into new ArrayBuffers).
#include <cblas.h>
#include <omp.h>
#include "kernels.h"
#include "napi_util.h"

namespace saelab {

// info() -> { threads, blasThreads, blas }
napi_value Info(napi_env env, napi_callback_info info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_int32(env, omp_get_max_threads(), &v);
  napi_set_named_property(env, obj, "threads", v);
  napi_create_int32(env, openblas_get_num_threads(), &v);
  napi_set_named_property(env, obj, "blasThreads", v);
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "blas", v);
  return obj;
}

static napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"biasActivation", nullptr, BiasActivation, nullptr, nullptr, nullptr, napi_default, nullptr},
#ifndef SAELAB_MATMUL_ONLY
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gather", nullptr, Gather, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"segmentSum", nullptr, SegmentSum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stridedCopy", nullptr, StridedCopy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, Gelu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"cast", nullptr, Cast, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"select", nullptr, Select, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"topk", nullptr, TopK, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseMatmul", nullptr, SparseMatmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"saeTrainForward", nullptr, SaeTrainForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"saeTrainBackward", nullptr, SaeTrainBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attention", nullptr, Attention, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pairInsert", nullptr, PairInsert, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pairAccumulate", nullptr, PairAccumulate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pairMergeRuns", nullptr, PairMergeRuns, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pairRehash", nullptr, PairRehash, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pairSortBlocks", nullptr, PairSortBlocks, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bf16Info", nullptr, Bf16Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bf16Matmul", nullptr, Bf16Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"nonFinite", nullptr, NonFinite, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"allocatorTune", nullptr, AllocatorTune, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"allocatorTrim", nullptr, AllocatorTrim, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mapFile", nullptr, MapFile, nullptr, nullptr, nullptr, napi_default, nullptr},
#endif
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace saelab

NAPI_MODULE(NODE_GYP_MODULE_NAME, saelab::Init)
