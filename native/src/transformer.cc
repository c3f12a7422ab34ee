// Fused transformer pieces for inference: LayerNorm / RMSNorm in one pass per row, and attention computed per
// (sequence, head) straight from q, k, v in their [batch, pos, heads, d_head] layout (no transposed copies of the
// whole tensors), with the scale, the additive mask, the softmax and the padding mask applied to each score row while
// it is in cache, and z written in [batch, pos, heads, d_head] (TransformerLens's hook_z layout). Each computes the
// same float32 steps as the tfjs composition it replaces on this backend, so results are bitwise the same.
#include <cblas.h>
#include <cmath>
#include <cstdint>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

namespace {

// One row of the native composition LayerNorm replaces, with its exact float32 / float64 steps (so the fused pass
// gives the same bits): mean = Mean (four double partial sums), c = x - mean, var = Mean(c * c), scale =
// sqrt(var + eps), out = c * (1 / scale) (* w) (+ b). Returns the scale.
__attribute__((optimize("fp-contract=off")))
float normRow(const float* x, float* out, int64_t n, const float* w, const float* b, float eps, bool center, std::vector<float>& c) {
  const double inv = 1.0 / static_cast<double>(n);
  auto mean4 = [&](const float* v) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) { s0 += v[j]; s1 += v[j + 1]; s2 += v[j + 2]; s3 += v[j + 3]; }
    for (; j < n; j++) s0 += v[j];
    return static_cast<float>((s0 + s1 + s2 + s3) * inv);
  };
  float m = 0.f;
  if (center) m = mean4(x);
  for (int64_t i = 0; i < n; i++) { const float d = center ? x[i] - m : x[i]; c[i] = d * d; }
  const float var = mean4(c.data());
  const float scale = std::sqrt(var + eps);
  const float r = 1.f / scale;
  for (int64_t i = 0; i < n; i++) {
    float v = (center ? x[i] - m : x[i]) * r;
    if (w) v = v * w[i];
    if (b) v = v + b[i];
    out[i] = v;
  }
  return scale;
}

// C = op(A) op(B) for one contiguous product, dispatched as batchedGemm dispatches a single one (plain loops for
// tiny products, else one OpenBLAS call), so that the fused attention computes the composition's bits.
void oneGemm(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K, bool tB) {
  if (M * N * K <= 16 * 16 * 16) { smallGemm(A, B, C, M, N, K, false, tB); return; }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, tB ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, 1.f, A, (blasint)K,
              B, (blasint)(tB ? K : N), 0.f, C, (blasint)N);
}

// The native Softmax kernel's steps on one row (a NaN anywhere makes the row NaN).
void softmaxRow(float* row, int64_t n) {
  float mx = -INFINITY;
  bool nan = false;
  for (int64_t c = 0; c < n; c++) { if (std::isnan(row[c])) nan = true; if (row[c] > mx) mx = row[c]; }
  if (nan) { for (int64_t c = 0; c < n; c++) row[c] = NAN; return; }
  double sum = 0;
  // exp of anything below -105 is 0 in float32 (under half the smallest subnormal): masked scores skip expf, same bits
  for (int64_t c = 0; c < n; c++) { const float d = row[c] - mx; const float e = d < -105.f ? 0.f : std::exp(d); row[c] = e; sum += e; }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t c = 0; c < n; c++) row[c] *= inv;
}

}  // namespace

// layerNorm(x, rows, cols, w|null, b|null, eps, center, out, scale): per row of x [rows, cols],
// scale[r] = sqrt(mean((x - mean)^2) + eps) (mean 0 without center) and out = (x - mean) / scale * w + b.
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t nx, no, ns, nw = 0, nb = 0;
    const float* x = args.typed<float>(0, &nx);
    const int64_t rows = args.i64(1), cols = args.i64(2);
    const float* w = args.isNull(3) ? nullptr : args.typed<float>(3, &nw);
    const float* b = args.isNull(4) ? nullptr : args.typed<float>(4, &nb);
    const float eps = static_cast<float>(args.f64(5));
    const bool center = args.i64(6) != 0;
    float* out = args.typed<float>(7, &no);
    float* scale = args.typed<float>(8, &ns);
    if (static_cast<int64_t>(nx) != rows * cols || no != nx || static_cast<int64_t>(ns) != rows || (w && static_cast<int64_t>(nw) != cols) ||
        (b && static_cast<int64_t>(nb) != cols) || (b && !w))
      throw ArgError{"layerNorm: sizes differ"};
#pragma omp parallel num_threads(threadsFor(rows * cols))
    {
      std::vector<float> c(static_cast<size_t>(cols));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; r++) scale[r] = normRow(x + r * cols, out + r * cols, cols, w, b, eps, center, c);
    }
  });
}

// attention(q, k, v, B, P, H, Hk, dh, scale, mask|null, maskBatch, visible|null, z, pattern|null):
// for each sequence b and head h (kv head h / (H / Hk)): scores = scale q_bh k_bh^T + mask[b % maskBatch] ([P, P]),
// pattern = softmax(scores) (times visible[b % maskBatch] when given), z_bh = pattern v_bh.
// q [B, P, H, dh], k and v [B, P, Hk, dh], z [B, P, H, dh]; pattern, when given, [B, H, P, P].
napi_value Attention(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t nq, nk, nv, nz, nm = 0, nvis = 0, np = 0;
    const float* q = args.typed<float>(0, &nq);
    const float* k = args.typed<float>(1, &nk);
    const float* v = args.typed<float>(2, &nv);
    const int64_t B = args.i64(3), P = args.i64(4), H = args.i64(5), Hk = args.i64(6), dh = args.i64(7);
    const float scale = static_cast<float>(args.f64(8));
    const float* mask = args.isNull(9) ? nullptr : args.typed<float>(9, &nm);
    const int64_t maskBatch = args.i64(10);
    const float* visible = args.isNull(11) ? nullptr : args.typed<float>(11, &nvis);
    float* z = args.typed<float>(12, &nz);
    float* pattern = args.isNull(13) ? nullptr : args.typed<float>(13, &np);
    if (Hk <= 0 || H % Hk != 0 || maskBatch <= 0 || static_cast<int64_t>(nq) != B * P * H * dh || static_cast<int64_t>(nk) != B * P * Hk * dh ||
        nv != nk || nz != nq || (mask && static_cast<int64_t>(nm) != maskBatch * P * P) || (visible && static_cast<int64_t>(nvis) != maskBatch * P * P) ||
        (pattern && static_cast<int64_t>(np) != B * H * P * P))
      throw ArgError{"attention: sizes differ"};
    const int64_t group = H / Hk;
    const int64_t ldq = H * dh, ldk = Hk * dh;
#pragma omp parallel num_threads(threadsFor(B * H * P * P * dh / 16))
    {
      std::vector<float> qc(static_cast<size_t>(P * dh)), kc(qc.size()), vc(qc.size()), zc(qc.size()), s(static_cast<size_t>(P * P));
#pragma omp for schedule(static)
      for (int64_t t = 0; t < B * H; t++) {
        const int64_t bi = t / H, h = t % H, hk = h / group;
        // this head's q (scaled, as the composition scales q before the product), k and v, contiguous
        for (int64_t p = 0; p < P; p++) {
          const float* qr = q + (bi * P + p) * ldq + h * dh;
          const float* kr = k + (bi * P + p) * ldk + hk * dh;
          const float* vr = v + (bi * P + p) * ldk + hk * dh;
          for (int64_t c = 0; c < dh; c++) { qc[p * dh + c] = qr[c] * scale; kc[p * dh + c] = kr[c]; vc[p * dh + c] = vr[c]; }
        }
        float* sp = pattern ? pattern + t * P * P : s.data();
        oneGemm(qc.data(), kc.data(), sp, P, P, dh, true);
        const float* mb = mask ? mask + (bi % maskBatch) * P * P : nullptr;
        const float* vis = visible ? visible + (bi % maskBatch) * P * P : nullptr;
        for (int64_t r = 0; r < P; r++) {
          float* row = sp + r * P;
          if (mb) for (int64_t c = 0; c < P; c++) row[c] = row[c] + mb[r * P + c];
          softmaxRow(row, P);
          if (vis) for (int64_t c = 0; c < P; c++) row[c] = row[c] * vis[r * P + c];
        }
        oneGemm(sp, vc.data(), zc.data(), P, dh, P, false);
        for (int64_t p = 0; p < P; p++) {
          float* zr = z + (bi * P + p) * ldq + h * dh;
          for (int64_t c = 0; c < dh; c++) zr[c] = zc[p * dh + c];
        }
      }
    }
  });
}

}  // namespace saelab
