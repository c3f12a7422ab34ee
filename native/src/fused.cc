// Fused kernels: GELU (tanh approximation and exact erf) with its gradient, one Adam/AdamW update of a
// parameter and its two moments in one pass, Cast between float32/int32/bool, and Select (tf.where).
// Each replaces a chain of elementwise tfjs ops that would otherwise read and write the whole tensor
// once per op.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// exp(x) in float with a branch-free Cephes-style polynomial (about 2 ulp), so that loops calling it vectorise.
// Inputs are clamped to [-87.3, 88.7]: exp(-inf) gives ~1e-38 instead of 0, which every caller here tolerates.
static inline float expApprox(float x) {
  x = x < 88.7f ? x : 88.7f;  // min/max written so that they compile to vector min/max (NaN handling as std::min/max)
  x = x > -87.3f ? x : -87.3f;
  const float fx = x * 1.44269504088896341f;
  // round to nearest without a branch or floorf: fx + 128.5 > 0, so truncation is floor
  const int n = static_cast<int>(fx + 128.5f) - 128;
  const float nf = static_cast<float>(n);
  float r = x - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.f;
  // scale by 2^n through the exponent bits (n in [-126, 128]: 2^n built as 2^(n/2) * 2^(n - n/2), both normal)
  const int n1 = n >> 1;
  const int n2 = n - n1;
  float p1, p2;
  const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  std::memcpy(&p1, &b1, sizeof p1);
  std::memcpy(&p2, &b2, sizeof p2);
  return y * p1 * p2;
}

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;
constexpr float kSqrtHalf = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// gelu_new: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as x * sigmoid(2u).
static inline float geluTanh(float x) {
  const float twoU = 2.f * kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return x / (1.f + expApprox(-twoU));
}

// d gelu_new / dx = s + x s (1 - s) 2u', s = sigmoid(2u), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
static inline float geluTanhGrad(float x) {
  const float twoU = 2.f * kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  const float s = 1.f / (1.f + expApprox(-twoU));
  const float du = 2.f * kSqrt2OverPi * (1.f + 3.f * kGeluCubic * x * x);
  return s + x * s * (1.f - s) * du;
}

// exact gelu: 0.5 x (1 + erf(x / sqrt 2)); derivative 0.5 (1 + erf(x / sqrt 2)) + x phi(x).
static inline float geluErf(float x) { return 0.5f * x * (1.f + std::erf(x * kSqrtHalf)); }
static inline float geluErfGrad(float x) {
  return 0.5f * (1.f + std::erf(x * kSqrtHalf)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
}

SAELAB_VECTOR_CLONES static void geluTanhRange(const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = geluTanh(x[i]);
}

SAELAB_VECTOR_CLONES static void geluTanhGradRange(const float* __restrict dy, const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = dy[i] * geluTanhGrad(x[i]);
}

// gelu(x, out, approximate): approximate 1 = tanh (gelu_new), 0 = erf.
napi_value Gelu(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t n;
    const float* x = args.typed<float>(0, &n);
    float* out = args.typed<float>(1);
    const bool approx = args.i64(2) != 0;
    const int64_t len = static_cast<int64_t>(n);
    if (approx) {
      parallelChunks(len, threadsFor(len), [&](int64_t b, int64_t e) { geluTanhRange(x + b, out + b, e - b); });
    } else {
#pragma omp parallel for schedule(static) num_threads(threadsFor(len / 4))
      for (int64_t i = 0; i < len; i++) out[i] = geluErf(x[i]);
    }
  });
}

// geluGrad(dy, x, out, approximate): out = dy * gelu'(x).
napi_value GeluGrad(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t n, nx;
    const float* dy = args.typed<float>(0, &n);
    const float* x = args.typed<float>(1, &nx);
    float* out = args.typed<float>(2);
    const bool approx = args.i64(3) != 0;
    if (n != nx) throw ArgError{"geluGrad: dy and x sizes differ"};
    const int64_t len = static_cast<int64_t>(n);
    if (approx) {
      parallelChunks(len, threadsFor(len), [&](int64_t b, int64_t e) { geluTanhGradRange(dy + b, x + b, out + b, e - b); });
    } else {
#pragma omp parallel for schedule(static) num_threads(threadsFor(len / 4))
      for (int64_t i = 0; i < len; i++) out[i] = dy[i] * geluErfGrad(x[i]);
    }
  });
}

struct AdamParams { float beta1, beta2, eps, stepSize, sqrtBc2, decay, gradScale; };

// The outputs may be the inputs themselves (an in-place update: element i only reads and writes index i).
SAELAB_VECTOR_CLONES static void adamRange(const float* p, const float* m, const float* v, const float* g, float* outP,
                                           float* outM, float* outV, int64_t n, AdamParams h) {
  const float c1 = 1.f - h.beta1, c2 = 1.f - h.beta2;
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * h.gradScale;
    const float mi = h.beta1 * m[i] + c1 * gi;
    const float vi = h.beta2 * v[i] + c2 * (gi * gi);
    outM[i] = mi;
    outV[i] = vi;
    outP[i] = h.decay * p[i] - h.stepSize * (mi / (std::sqrt(vi) / h.sqrtBc2 + h.eps));
  }
}

// adam(p, m, v, g, outP, outM, outV, beta1, beta2, eps, stepSize, sqrtBc2, decay, gradScale):
//   g' = g * gradScale; m' = beta1 m + (1 - beta1) g'; v' = beta2 v + (1 - beta2) g'^2;
//   p' = decay p - stepSize m' / (sqrt(v') / sqrtBc2 + eps)
// (torch's Adam with stepSize = lr / bc1; AdamW's decoupled decay with decay = 1 - lr wd).
napi_value Adam(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t n, nm, nv, ng, nop, nom, nov;
    const float* p = args.typed<float>(0, &n);
    const float* m = args.typed<float>(1, &nm);
    const float* v = args.typed<float>(2, &nv);
    const float* g = args.typed<float>(3, &ng);
    float* outP = args.typed<float>(4, &nop);
    float* outM = args.typed<float>(5, &nom);
    float* outV = args.typed<float>(6, &nov);
    if (nm != n || nv != n || ng != n || nop != n || nom != n || nov != n) throw ArgError{"adam: sizes differ"};
    const float beta1 = static_cast<float>(args.f64(7)), beta2 = static_cast<float>(args.f64(8));
    const float eps = static_cast<float>(args.f64(9)), stepSize = static_cast<float>(args.f64(10));
    const float sqrtBc2 = static_cast<float>(args.f64(11)), decay = static_cast<float>(args.f64(12));
    const float gradScale = static_cast<float>(args.f64(13));
    const int64_t len = static_cast<int64_t>(n);
    const AdamParams h{beta1, beta2, eps, stepSize, sqrtBc2, decay, gradScale};
    parallelChunks(len, threadsFor(len), [&](int64_t b, int64_t e) {
      adamRange(p + b, m + b, v + b, g + b, outP + b, outM + b, outV + b, e - b, h);
    });
  });
}

// Cast codes shared with lib/backend/nativeKernels/fused.ts.
enum CastOp { kF32ToI32 = 0, kI32ToF32 = 1, kBoolToF32 = 2, kF32ToBool = 3, kI32ToBool = 4, kBoolToI32 = 5 };

// JavaScript's ToInt32 (what Int32Array.from does to a float): truncate, NaN/inf -> 0, wrap modulo 2^32.
static inline int32_t toInt32(float x) {
  if (!std::isfinite(x)) return 0;
  const double t = std::trunc(static_cast<double>(x));
  if (t >= -2147483648.0 && t < 2147483648.0) return static_cast<int32_t>(t);
  double r = std::fmod(t, 4294967296.0);
  if (r < 0) r += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(r));
}

// cast(op, x, out)
napi_value Cast(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const int op = static_cast<int>(args.i64(0));
    size_t n, no;
    void* x = args.typed<void>(1, &n);
    void* out = args.typed<void>(2, &no);
    if (n != no) throw ArgError{"cast: sizes differ"};
    const int64_t len = static_cast<int64_t>(n);
    const int threads = threadsFor(len);
    switch (op) {
      case kF32ToI32: {
        const float* a = static_cast<const float*>(x);
        int32_t* o = static_cast<int32_t*>(out);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < len; i++) o[i] = toInt32(a[i]);
        break;
      }
      case kI32ToF32: {
        const int32_t* a = static_cast<const int32_t*>(x);
        float* o = static_cast<float*>(out);
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (int64_t i = 0; i < len; i++) o[i] = static_cast<float>(a[i]);
        break;
      }
      case kBoolToF32: {
        const uint8_t* a = static_cast<const uint8_t*>(x);
        float* o = static_cast<float*>(out);
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (int64_t i = 0; i < len; i++) o[i] = a[i] ? 1.f : 0.f;
        break;
      }
      case kF32ToBool: {
        const float* a = static_cast<const float*>(x);
        uint8_t* o = static_cast<uint8_t*>(out);
        // NaN casts to true, as `NaN !== 0` on the cpu backend
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < len; i++) o[i] = a[i] != 0.f;
        break;
      }
      case kI32ToBool: {
        const int32_t* a = static_cast<const int32_t*>(x);
        uint8_t* o = static_cast<uint8_t*>(out);
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (int64_t i = 0; i < len; i++) o[i] = a[i] != 0;
        break;
      }
      case kBoolToI32: {
        const uint8_t* a = static_cast<const uint8_t*>(x);
        int32_t* o = static_cast<int32_t*>(out);
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (int64_t i = 0; i < len; i++) o[i] = a[i] ? 1 : 0;
        break;
      }
      default: throw ArgError{"cast: unknown op"};
    }
  });
}

// select(cond, a, b, out, inner): out[i] = cond[i / inner] ? a[i] : b[i] (4-byte elements; inner 1 when the
// condition has the inputs' shape, the row size when it is a vector over their first axis).
napi_value Select(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t nc, n, nb, no;
    const uint8_t* cond = args.typed<uint8_t>(0, &nc);
    const uint32_t* a = args.typed<uint32_t>(1, &n);
    const uint32_t* b = args.typed<uint32_t>(2, &nb);
    uint32_t* out = args.typed<uint32_t>(3, &no);
    const int64_t inner = args.i64(4);
    if (nb != n || no != n || inner < 1 || static_cast<int64_t>(nc) * inner != static_cast<int64_t>(n))
      throw ArgError{"select: sizes differ"};
    const int64_t rows = static_cast<int64_t>(nc);
#pragma omp parallel for schedule(static) num_threads(threadsFor(static_cast<int64_t>(n)))
    for (int64_t r = 0; r < rows; r++) {
      const uint32_t* src = cond[r] ? a : b;
      const int64_t o = r * inner;
      for (int64_t i = 0; i < inner; i++) out[o + i] = src[o + i];
    }
  });
}

}  // namespace saelab

namespace saelab {

// topk(x, rows, cols, k, values, indices) -> 1 when a row holds NaN (the caller then uses the cpu kernel), else 0.
// For each row of x [rows, cols]: the k largest values in descending order with their column indices, ties
// broken by the lower index (the order of tfjs's TopK).
napi_value TopK(napi_env env, napi_callback_info info) {
  int hasNaN = 0;
  napi_value done = guard(env, [&] {
    Args args(env, info);
    size_t n, nv, ni;
    const float* x = args.typed<float>(0, &n);
    const int64_t rows = args.i64(1), cols = args.i64(2), k = args.i64(3);
    float* values = args.typed<float>(4, &nv);
    int32_t* indices = args.typed<int32_t>(5, &ni);
    if (k < 0 || k > cols || static_cast<int64_t>(n) != rows * cols || static_cast<int64_t>(nv) != rows * k || static_cast<int64_t>(ni) != rows * k)
      throw ArgError{"topk: sizes differ"};
    int nanRows = 0;
#pragma omp parallel num_threads(threadsFor(rows * cols)) reduction(+ : nanRows)
    {
      std::vector<int32_t> idx(cols);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; r++) {
        const float* row = x + r * cols;
        bool nan = false;
        for (int64_t c = 0; c < cols; c++) nan |= std::isnan(row[c]);
        if (nan) { nanRows++; continue; }
        for (int64_t c = 0; c < cols; c++) idx[c] = static_cast<int32_t>(c);
        auto before = [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
        for (int64_t j = 0; j < k; j++) {
          values[r * k + j] = row[idx[j]];
          indices[r * k + j] = idx[j];
        }
      }
    }
    hasNaN = nanRows > 0;
  });
  if (done != nullptr) return done;
  napi_value result;
  napi_get_boolean(env, hasNaN != 0, &result);
  return result;
}

}  // namespace saelab
