// bfloat16 GEMM over oneDNN's matmul primitive (src bf16 x weights bf16 -> dst f32, f32 bias), for models whose
// weights are kept in bfloat16: the activations are rounded to bfloat16 (nearest even) and the weights' stored bits
// are used as they are, never widened to float32.
//
// oneDNN is optional twice over: the feature is compiled only where its headers were found at build time
// (SAELAB_HAVE_DNNL, set by binding.gyp), and the library (libdnnl.so.2) is opened with dlopen on first use, so the
// addon loads and works without it. It is used only where the CPU has AVX512-BF16 (CPUID) and oneDNN picks a
// native bf16 implementation (SAELAB_DNNL_LIBRARY names another libdnnl); bf16Info() says why not otherwise, and JavaScript computes in float32.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

#ifdef SAELAB_HAVE_DNNL
#include <cpuid.h>
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#endif

namespace saelab {

// float32 -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.
static inline uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#ifdef SAELAB_HAVE_DNNL

// The oneDNN C API entry points we call, resolved from libdnnl.so.2 at run time.
struct Dnnl {
  decltype(&dnnl_engine_create) engine_create;
  decltype(&dnnl_stream_create) stream_create;
  decltype(&dnnl_memory_desc_init_by_tag) md_init_by_tag;
  decltype(&dnnl_matmul_desc_init) matmul_desc_init;
  decltype(&dnnl_primitive_desc_create) pd_create;
  decltype(&dnnl_primitive_desc_query) pd_query;
  decltype(&dnnl_primitive_desc_destroy) pd_destroy;
  decltype(&dnnl_primitive_create) prim_create;
  decltype(&dnnl_primitive_destroy) prim_destroy;
  decltype(&dnnl_primitive_execute) execute;
  decltype(&dnnl_memory_create) mem_create;
  decltype(&dnnl_memory_destroy) mem_destroy;
  decltype(&dnnl_stream_wait) stream_wait;
  decltype(&dnnl_version) version;
  decltype(&dnnl_get_effective_cpu_isa) effective_isa;
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
};

static Dnnl dnnl;
static bool dnnlReady = false;
static std::string dnnlReason = "not initialised";
static std::string dnnlVersion;
static std::mutex dnnlMutex;

static bool cpuHasAvx512Bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 5) & 1u;  // CPUID.(EAX=7,ECX=1):EAX[5] = AVX512_BF16
}

// Open oneDNN once; afterwards dnnlReady / dnnlReason say whether bf16 matmuls can run.
static void initDnnl() {
  static bool tried = false;
  if (tried) return;
  tried = true;
  if (!cpuHasAvx512Bf16()) { dnnlReason = "this CPU has no AVX512-BF16"; return; }
  // SAELAB_DNNL_LIBRARY: another oneDNN 2.x build (a path), e.g. one outside the loader's search path
  const char* env = std::getenv("SAELAB_DNNL_LIBRARY");
  const std::string lib = env && *env ? env : "libdnnl.so.2";
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) { dnnlReason = "oneDNN (" + lib + ") could not be opened: " + dlerror() + " (apt-get install libdnnl2)"; return; }
  bool ok = true;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
    if (!fn) ok = false;
  };
  sym(dnnl.engine_create, "dnnl_engine_create");
  sym(dnnl.stream_create, "dnnl_stream_create");
  sym(dnnl.md_init_by_tag, "dnnl_memory_desc_init_by_tag");
  sym(dnnl.matmul_desc_init, "dnnl_matmul_desc_init");
  sym(dnnl.pd_create, "dnnl_primitive_desc_create");
  sym(dnnl.pd_query, "dnnl_primitive_desc_query");
  sym(dnnl.pd_destroy, "dnnl_primitive_desc_destroy");
  sym(dnnl.prim_create, "dnnl_primitive_create");
  sym(dnnl.prim_destroy, "dnnl_primitive_destroy");
  sym(dnnl.execute, "dnnl_primitive_execute");
  sym(dnnl.mem_create, "dnnl_memory_create");
  sym(dnnl.mem_destroy, "dnnl_memory_destroy");
  sym(dnnl.stream_wait, "dnnl_stream_wait");
  sym(dnnl.version, "dnnl_version");
  sym(dnnl.effective_isa, "dnnl_get_effective_cpu_isa");
  if (!ok) { dnnlReason = "libdnnl.so.2 lacks the oneDNN 2.x C API (matmul_desc_init ...)"; return; }
  const dnnl_version_t* v = dnnl.version();
  dnnlVersion = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  if (v->major != DNNL_VERSION_MAJOR) { dnnlReason = "oneDNN " + dnnlVersion + " is not the major version saelab was built against (" + std::to_string(DNNL_VERSION_MAJOR) + ".x)"; return; }
  const unsigned isa = static_cast<unsigned>(dnnl.effective_isa());
  if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) { dnnlReason = "oneDNN does not use AVX512-BF16 here (DNNL_MAX_CPU_ISA?)"; return; }
  if (dnnl.engine_create(&dnnl.engine, dnnl_cpu, 0) != dnnl_success || dnnl.stream_create(&dnnl.stream, dnnl.engine, dnnl_stream_default_flags) != dnnl_success) {
    dnnlReason = "oneDNN could not create a CPU engine";
    return;
  }
  dnnlReady = true;
  dnnlReason = "";
}

// One matmul primitive for src [M, K] bf16 x weights [K, N] bf16 (+ bias [1, N] f32) -> dst [M, N] f32, plain row-major.
struct Gemm {
  dnnl_primitive_t prim = nullptr;
  // the memory descriptors the primitive was made for (each call wraps its buffers in them)
  dnnl_memory_desc_t src, wei, bia, dst;
  std::string impl;
  uint64_t lastUse = 0;
};

using GemmKey = std::tuple<int64_t, int64_t, int64_t, bool>;
static std::map<GemmKey, Gemm> gemmCache;
static uint64_t useClock = 0;
static const size_t kGemmCacheSize = 64;

// The cached primitive for a shape (created on first use); nullptr with `why` set when oneDNN refuses it.
static Gemm* gemmFor(int64_t M, int64_t N, int64_t K, bool bias, std::string& why) {
  const GemmKey key{M, N, K, bias};
  auto it = gemmCache.find(key);
  if (it != gemmCache.end()) { it->second.lastUse = ++useClock; return &it->second; }
  if (gemmCache.size() >= kGemmCacheSize) {
    auto oldest = gemmCache.begin();
    for (auto j = gemmCache.begin(); j != gemmCache.end(); ++j) if (j->second.lastUse < oldest->second.lastUse) oldest = j;
    dnnl.prim_destroy(oldest->second.prim);
    gemmCache.erase(oldest);
  }
  Gemm g;
  const dnnl_dims_t sd = {M, K}, wd = {K, N}, bd = {1, N}, dd = {M, N};
  dnnl.md_init_by_tag(&g.src, 2, sd, dnnl_bf16, dnnl_ab);
  dnnl.md_init_by_tag(&g.wei, 2, wd, dnnl_bf16, dnnl_ab);
  dnnl.md_init_by_tag(&g.bia, 2, bd, dnnl_f32, dnnl_ab);
  dnnl.md_init_by_tag(&g.dst, 2, dd, dnnl_f32, dnnl_ab);
  dnnl_matmul_desc_t desc;
  if (dnnl.matmul_desc_init(&desc, &g.src, &g.wei, bias ? &g.bia : nullptr, &g.dst) != dnnl_success) { why = "oneDNN rejected the matmul description"; return nullptr; }
  dnnl_primitive_desc_t pd;
  if (dnnl.pd_create(&pd, &desc, nullptr, dnnl.engine, nullptr) != dnnl_success) { why = "oneDNN has no bf16 matmul for this shape"; return nullptr; }
  const char* impl = nullptr;
  dnnl.pd_query(pd, dnnl_query_impl_info_str, 0, &impl);
  g.impl = impl ? impl : "?";
  const dnnl_status_t st = dnnl.prim_create(&g.prim, pd);
  dnnl.pd_destroy(pd);
  if (st != dnnl_success) { why = "oneDNN could not create the matmul primitive"; return nullptr; }
  g.lastUse = ++useClock;
  return &(gemmCache[key] = g);
}

#endif  // SAELAB_HAVE_DNNL

// bf16Info() -> { compiled, available, reason, version, isa }
napi_value Bf16Info(napi_env env, napi_callback_info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
#ifdef SAELAB_HAVE_DNNL
  std::lock_guard<std::mutex> lock(dnnlMutex);
  initDnnl();
  napi_get_boolean(env, true, &v);
  napi_set_named_property(env, obj, "compiled", v);
  napi_get_boolean(env, dnnlReady, &v);
  napi_set_named_property(env, obj, "available", v);
  napi_create_string_utf8(env, dnnlReason.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "reason", v);
  napi_create_string_utf8(env, dnnlVersion.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "version", v);
#else
  napi_get_boolean(env, false, &v);
  napi_set_named_property(env, obj, "compiled", v);
  napi_set_named_property(env, obj, "available", v);
  napi_create_string_utf8(env, "the native addon was built without oneDNN (apt-get install libdnnl-dev, then npm run build:native)", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "reason", v);
  napi_create_string_utf8(env, "", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "version", v);
#endif
  return obj;
}

// bf16Matmul(x, w, bias|null, out, M, N, K, heads, wRowStride, wOffset) -> implementation name
// out [M, N] = bf16(x [M, K]) @ W (+ bias [N]), W read from the bfloat16 bits w (Uint16Array):
//   heads == 0: W[k, n] = w[wOffset + k * wRowStride + n] (a [K, N] matrix or a column block of a wider one);
//   heads  > 0: w is [heads, K, N / heads] (TransformerLens's W_Q/W_K/W_V) and W[k, h * dh + j] = w[h][k][j].
napi_value Bf16Matmul(napi_env env, napi_callback_info info) {
  napi_value result = nullptr;
  guard(env, [&] {
    Args args(env, info);
    size_t xLen, wLen, outLen, biasLen = 0;
    const float* x = args.typed<float>(0, &xLen);
    const uint16_t* w = args.typed<uint16_t>(1, &wLen);
    const float* bias = args.isNull(2) ? nullptr : args.typed<float>(2, &biasLen);
    float* out = args.typed<float>(3, &outLen);
    const int64_t M = args.i64(4), N = args.i64(5), K = args.i64(6), heads = args.i64(7), ldw = args.i64(8), off = args.i64(9);
    if (M < 0 || N <= 0 || K <= 0 || heads < 0) throw ArgError{"bf16Matmul: bad sizes"};
    if ((int64_t)xLen < M * K || (int64_t)outLen < M * N || (bias && (int64_t)biasLen < N)) throw ArgError{"bf16Matmul: x, out or bias is too short"};
    if (heads > 0 ? (N % heads != 0 || (int64_t)wLen < K * N) : (ldw < N || off < 0 || (int64_t)wLen < off + (K - 1) * ldw + N))
      throw ArgError{"bf16Matmul: the weight bits do not hold the described matrix"};
#ifndef SAELAB_HAVE_DNNL
    (void)x; (void)w; (void)bias; (void)out;
    throw ArgError{"bf16Matmul: the native addon was built without oneDNN"};
#else
    std::lock_guard<std::mutex> lock(dnnlMutex);
    initDnnl();
    if (!dnnlReady) throw ArgError{"bf16Matmul: oneDNN bf16 matmul unavailable (see bf16Info().reason)"};
    if (M == 0) return;
    // the activations rounded to bfloat16
    std::vector<uint16_t> xb(static_cast<size_t>(M * K));
#pragma omp parallel for schedule(static) num_threads(threadsFor(M * K / 4))
    for (int64_t i = 0; i < M * K; i++) xb[i] = toBf16(x[i]);
    // the weights as a dense [K, N] matrix of bits: used in place when they are one, else copied (16-bit copy, no widening)
    const uint16_t* wd = w;
    std::vector<uint16_t> wcopy;
    if (heads > 0 || ldw != N || off != 0) {
      wcopy.resize(static_cast<size_t>(K * N));
      const int64_t dh = heads > 0 ? N / heads : N;
#pragma omp parallel for schedule(static) num_threads(threadsFor(K * N / 4))
      for (int64_t k = 0; k < K; k++) {
        uint16_t* row = wcopy.data() + k * N;
        if (heads > 0) {
          for (int64_t h = 0; h < heads; h++) std::memcpy(row + h * dh, w + (h * K + k) * dh, dh * 2);
        } else {
          std::memcpy(row, w + off + k * ldw, N * 2);
        }
      }
      wd = wcopy.data();
    }
    std::string why;
    Gemm* g = gemmFor(M, N, K, bias != nullptr, why);
    if (!g) throw ArgError{"bf16Matmul: oneDNN refused this shape"};
    const dnnl_memory_desc_t &src = g->src, &wei = g->wei, &bia = g->bia, &dst = g->dst;
    dnnl_memory_t ms = nullptr, mw = nullptr, mb = nullptr, md = nullptr;
    dnnl.mem_create(&ms, &src, dnnl.engine, xb.data());
    dnnl.mem_create(&mw, &wei, dnnl.engine, const_cast<uint16_t*>(wd));
    dnnl.mem_create(&md, &dst, dnnl.engine, out);
    if (bias) dnnl.mem_create(&mb, &bia, dnnl.engine, const_cast<float*>(bias));
    dnnl_exec_arg_t ea[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}, {DNNL_ARG_BIAS, mb}};
    const dnnl_status_t st = dnnl.execute(g->prim, dnnl.stream, bias ? 4 : 3, ea);
    dnnl.stream_wait(dnnl.stream);
    dnnl.mem_destroy(ms);
    dnnl.mem_destroy(mw);
    dnnl.mem_destroy(md);
    if (mb) dnnl.mem_destroy(mb);
    if (st != dnnl_success) throw ArgError{"bf16Matmul: oneDNN failed to run the matmul"};
    napi_create_string_utf8(env, g->impl.c_str(), NAPI_AUTO_LENGTH, &result);
#endif
  });
  return result;
}

}  // namespace saelab
