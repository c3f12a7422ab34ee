// Elementwise kernels: broadcasting binary ops and unary ops on float32, split across OpenMP threads.
#include <cmath>
#include <type_traits>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

// Binary op codes shared with lib/backend/nativeKernels/elementwise.ts.
enum BinaryOp {
  kAdd = 0, kSub, kMul, kDiv, kMaximum, kMinimum, kPow, kSquaredDifference, kPrelu,
  kEqual, kNotEqual, kGreater, kGreaterEqual, kLess, kLessEqual, kPowSquare, kPowCube, kPowSqrt, kPowOne
};

// Comparison ops write 1 or 0 into a Uint8Array (tfjs bool).
template <int OP>
static inline uint8_t cmp(float a, float b) {
  if constexpr (OP == kEqual) return a == b;
  else if constexpr (OP == kNotEqual) return a != b;
  else if constexpr (OP == kGreater) return a > b;
  else if constexpr (OP == kGreaterEqual) return a >= b;
  else if constexpr (OP == kLess) return a < b;
  else return a <= b;
}

template <int OP>
static inline float bin(float a, float b) {
  if constexpr (OP == kAdd) return a + b;
  else if constexpr (OP == kSub) return a - b;
  else if constexpr (OP == kMul) return a * b;
  else if constexpr (OP == kDiv) return a / b;
  else if constexpr (OP == kMaximum) return (std::isnan(a) || std::isnan(b)) ? NAN : (a > b ? a : b);
  else if constexpr (OP == kMinimum) return (std::isnan(a) || std::isnan(b)) ? NAN : (a < b ? a : b);
  else if constexpr (OP == kPow) return std::pow(a, b);
  else if constexpr (OP == kSquaredDifference) { const float d = a - b; return d * d; }
  else if constexpr (OP == kPowSquare) return a * a;  // pow(a, 2), b ignored
  else if constexpr (OP == kPowCube) return a * a * a;
  else if constexpr (OP == kPowOne) return a;  // pow(a, 1) = a exactly (NaN stays NaN)
  else if constexpr (OP == kPowSqrt) return a == -INFINITY ? INFINITY : std::sqrt(a) + 0.f;  // as pow(a, 0.5)
  else return a < 0.f ? b * a : a;  // kPrelu: a is x, b is alpha
}

// The op applied elementwise; comparisons produce uint8.
template <int OP>
struct BinOp {
  static constexpr bool kCompare = OP >= kEqual && OP <= kLessEqual;
  using Out = typename std::conditional<kCompare, uint8_t, float>::type;
  static inline Out apply(float a, float b) {
    if constexpr (kCompare) return cmp<OP>(a, b);
    else return bin<OP>(a, b);
  }
};

// Output viewed as [outer..., inner]; a and b strides are 0 on broadcast axes, the inner stride 0 or 1.
template <int OP>
static void binaryLoop(const float* a, const std::vector<int64_t>& as, const float* b, const std::vector<int64_t>& bs,
                       void* outRaw, const std::vector<int64_t>& shape) {
  using Out = typename BinOp<OP>::Out;
  Out* out = static_cast<Out*>(outRaw);
  const int R = static_cast<int>(shape.size());
  if (R == 0) { out[0] = BinOp<OP>::apply(a[0], b[0]); return; }
  const int64_t inner = shape[R - 1];
  const int64_t sa = as[R - 1], sb = bs[R - 1];
  int64_t outer = 1;
  for (int d = 0; d < R - 1; d++) outer *= shape[d];
  const int64_t total = outer * inner;
  if (outer == 1) {
    // One long run: split it across threads.
#pragma omp parallel for schedule(static) num_threads(threadsFor(total))
    for (int64_t i = 0; i < inner; i++) out[i] = BinOp<OP>::apply(a[i * sa], b[i * sb]);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threadsFor(total))
  for (int64_t o = 0; o < outer; o++) {
    int64_t rem = o, offA = 0, offB = 0;
    for (int d = R - 2; d >= 0; d--) {
      const int64_t idx = rem % shape[d];
      rem /= shape[d];
      offA += idx * as[d];
      offB += idx * bs[d];
    }
    const float* pa = a + offA;
    const float* pb = b + offB;
    Out* po = out + o * inner;
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < inner; i++) po[i] = BinOp<OP>::apply(pa[i], pb[i]);
    } else if (sa == 1) {
      const float vb = pb[0];
      for (int64_t i = 0; i < inner; i++) po[i] = BinOp<OP>::apply(pa[i], vb);
    } else if (sb == 1) {
      const float va = pa[0];
      for (int64_t i = 0; i < inner; i++) po[i] = BinOp<OP>::apply(va, pb[i]);
    } else {
      const Out v = BinOp<OP>::apply(pa[0], pb[0]);
      for (int64_t i = 0; i < inner; i++) po[i] = v;
    }
  }
}

// binary(op, a, aStrides, b, bStrides, out, outShape): the shapes already collapsed by the caller.
napi_value Binary(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const int op = static_cast<int>(args.i64(0));
    const float* a = args.typed<float>(1);
    const std::vector<int64_t> as = args.ints(2);
    const float* b = args.typed<float>(3);
    const std::vector<int64_t> bs = args.ints(4);
    void* out = args.typed<void>(5);
    const std::vector<int64_t> shape = args.ints(6);
    if (as.size() != shape.size() || bs.size() != shape.size()) throw ArgError{"binary: strides and shape ranks differ"};
    switch (op) {
      case kAdd: binaryLoop<kAdd>(a, as, b, bs, out, shape); break;
      case kSub: binaryLoop<kSub>(a, as, b, bs, out, shape); break;
      case kMul: binaryLoop<kMul>(a, as, b, bs, out, shape); break;
      case kDiv: binaryLoop<kDiv>(a, as, b, bs, out, shape); break;
      case kMaximum: binaryLoop<kMaximum>(a, as, b, bs, out, shape); break;
      case kMinimum: binaryLoop<kMinimum>(a, as, b, bs, out, shape); break;
      case kPow: binaryLoop<kPow>(a, as, b, bs, out, shape); break;
      case kSquaredDifference: binaryLoop<kSquaredDifference>(a, as, b, bs, out, shape); break;
      case kPrelu: binaryLoop<kPrelu>(a, as, b, bs, out, shape); break;
      case kEqual: binaryLoop<kEqual>(a, as, b, bs, out, shape); break;
      case kNotEqual: binaryLoop<kNotEqual>(a, as, b, bs, out, shape); break;
      case kGreater: binaryLoop<kGreater>(a, as, b, bs, out, shape); break;
      case kGreaterEqual: binaryLoop<kGreaterEqual>(a, as, b, bs, out, shape); break;
      case kLess: binaryLoop<kLess>(a, as, b, bs, out, shape); break;
      case kLessEqual: binaryLoop<kLessEqual>(a, as, b, bs, out, shape); break;
      case kPowSquare: binaryLoop<kPowSquare>(a, as, b, bs, out, shape); break;
      case kPowCube: binaryLoop<kPowCube>(a, as, b, bs, out, shape); break;
      case kPowSqrt: binaryLoop<kPowSqrt>(a, as, b, bs, out, shape); break;
      case kPowOne: binaryLoop<kPowOne>(a, as, b, bs, out, shape); break;
      default: throw ArgError{"binary: unknown op"};
    }
  });
}

// Unary op codes shared with lib/backend/nativeKernels/elementwise.ts.
enum UnaryOp {
  kExp = 0, kLog, kTanh, kSqrt, kRsqrt, kNeg, kSquare, kAbs, kReluU, kSigmoidU, kErf, kReciprocal, kStep, kEluU,
  kRelu6U, kLeakyReluU, kLog1p, kExpm1, kSin, kCos, kSign, kClip, kFloor, kCeil, kRound
};

template <int OP>
static inline float un(float x, float alpha, float beta) {
  if constexpr (OP == kExp) return std::exp(x);
  else if constexpr (OP == kLog) return std::log(x);
  else if constexpr (OP == kTanh) return std::tanh(x);
  else if constexpr (OP == kSqrt) return std::sqrt(x);
  else if constexpr (OP == kRsqrt) return 1.f / std::sqrt(x);
  else if constexpr (OP == kNeg) return -x;
  else if constexpr (OP == kSquare) return x * x;
  else if constexpr (OP == kAbs) return std::fabs(x);
  else if constexpr (OP == kReluU) return x < 0.f ? 0.f : x;
  else if constexpr (OP == kSigmoidU) return 1.f / (1.f + std::exp(-x));
  else if constexpr (OP == kErf) return std::erf(x);
  else if constexpr (OP == kReciprocal) return 1.f / x;
  else if constexpr (OP == kStep) return std::isnan(x) ? 0.f : (x > 0.f ? 1.f : alpha);
  else if constexpr (OP == kEluU) return x >= 0.f ? x : std::expm1(x);
  else if constexpr (OP == kRelu6U) return std::isnan(x) ? x : (x < 0.f ? 0.f : (x > 6.f ? 6.f : x));
  else if constexpr (OP == kLeakyReluU) return x < 0.f ? alpha * x : x;
  else if constexpr (OP == kLog1p) return std::log1p(x);
  else if constexpr (OP == kExpm1) return std::expm1(x);
  else if constexpr (OP == kSin) return std::sin(x);
  else if constexpr (OP == kCos) return std::cos(x);
  else if constexpr (OP == kSign) return std::isnan(x) ? 0.f : (x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f));
  else if constexpr (OP == kClip) return std::isnan(x) ? NAN : (x < alpha ? alpha : (x > beta ? beta : x));
  else if constexpr (OP == kFloor) return std::floor(x);
  else if constexpr (OP == kCeil) return std::ceil(x);
  else return std::nearbyint(x);  // kRound: half to even, as tfjs
}

template <int OP>
static void unaryLoop(const float* x, float* out, int64_t n, float alpha, float beta) {
#pragma omp parallel for schedule(static) num_threads(threadsFor(n))
  for (int64_t i = 0; i < n; i++) out[i] = un<OP>(x[i], alpha, beta);
}

// unary(op, x, out, alpha, beta): out[i] = f(x[i]); out may be x.
napi_value Unary(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    const int op = static_cast<int>(args.i64(0));
    size_t n;
    const float* x = args.typed<float>(1, &n);
    float* out = args.typed<float>(2);
    const float alpha = static_cast<float>(args.f64(3));
    const float beta = static_cast<float>(args.f64(4));
    const int64_t len = static_cast<int64_t>(n);
#define SAELAB_UNARY_CASE(K) case K: unaryLoop<K>(x, out, len, alpha, beta); break;
    switch (op) {
      SAELAB_UNARY_CASE(kExp) SAELAB_UNARY_CASE(kLog) SAELAB_UNARY_CASE(kTanh) SAELAB_UNARY_CASE(kSqrt)
      SAELAB_UNARY_CASE(kRsqrt) SAELAB_UNARY_CASE(kNeg) SAELAB_UNARY_CASE(kSquare) SAELAB_UNARY_CASE(kAbs)
      SAELAB_UNARY_CASE(kReluU) SAELAB_UNARY_CASE(kSigmoidU) SAELAB_UNARY_CASE(kErf) SAELAB_UNARY_CASE(kReciprocal)
      SAELAB_UNARY_CASE(kStep) SAELAB_UNARY_CASE(kEluU) SAELAB_UNARY_CASE(kRelu6U) SAELAB_UNARY_CASE(kLeakyReluU)
      SAELAB_UNARY_CASE(kLog1p) SAELAB_UNARY_CASE(kExpm1) SAELAB_UNARY_CASE(kSin) SAELAB_UNARY_CASE(kCos)
      SAELAB_UNARY_CASE(kSign) SAELAB_UNARY_CASE(kClip) SAELAB_UNARY_CASE(kFloor) SAELAB_UNARY_CASE(kCeil)
      SAELAB_UNARY_CASE(kRound)
      default: throw ArgError{"unary: unknown op"};
    }
#undef SAELAB_UNARY_CASE
  });
}

}  // namespace saelab
