// A standard (ReLU) SAE's training forward pass and its backward pass, fused: the GEMMs through batchedGemm and
// every elementwise step folded into one pass over the [tokens, d_sae] arrays (bias + noise + ReLU + the L1 sums
// after the encoder product; the ReLU mask + L1 gradient + b_enc's gradient after the decoder-transpose product).
// The backward pass computes only what the parameters need: b_dec's gradient through the encoder input is
// W_enc (sum over tokens of dpre), a matrix-vector product, where automatic differentiation would form the full
// [tokens, d_in] input gradient with a fourth big GEMM.
#include <cmath>
#include <cstdint>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

namespace {

// Per-thread float64 column sums of a [rows, cols] pass, reduced at the end.
struct ColumnSums {
  std::vector<double> sums;
  int64_t cols;
  ColumnSums(int threads, int64_t c) : sums(static_cast<size_t>(threads) * c, 0.0), cols(c) {}
  double* of(int t) { return sums.data() + static_cast<int64_t>(t) * cols; }
  void reduceInto(float* out, int threads) {
    for (int64_t j = 0; j < cols; j++) {
      double s = 0;
      for (int t = 0; t < threads; t++) s += sums[static_cast<int64_t>(t) * cols + j];
      out[j] = static_cast<float>(s);
    }
  }
};

// acts[r, :] = relu(acts[r, :] + bias (+ noise[r, :])); colSum += acts; returns sum_j acts * w_j (w = 1 when null).
SAELAB_VECTOR_CLONES double reluRow(float* __restrict a, const float* __restrict bias, const float* __restrict noise,
                                    const float* __restrict w, double* __restrict colSum, int64_t cols) {
  float l1 = 0.f;  // a row's sum in float32 lanes, added to the double total per row
  for (int64_t j = 0; j < cols; j++) {
    float v = a[j] + bias[j];
    if (noise) v += noise[j];
    v = v > 0.f ? v : 0.f;
    a[j] = v;
    colSum[j] += v;
    l1 += w ? v * w[j] : v;
  }
  return l1;
}

// d[r, :] = acts[r, :] > 0 ? d[r, :] + k w_j : 0 (w = 1 when null); colSum += d.
SAELAB_VECTOR_CLONES void reluGradRow(float* __restrict d, const float* __restrict acts, const float* __restrict w, float k,
                                      double* __restrict colSum, int64_t cols) {
  for (int64_t j = 0; j < cols; j++) {
    const float v = acts[j] > 0.f ? d[j] + (w ? k * w[j] : k) : 0.f;
    d[j] = v;
    colSum[j] += v;
  }
}

}  // namespace

// saeTrainForward(x, T, dIn, dSae, W_enc, b_enc, W_dec, b_dec, noise|null, norms|null, applyBDec,
//                 saeIn, acts, recon, colSums, stats, maxDensity)
//   saeIn [T, dIn] = x - b_dec (written only when applyBDec); acts [T, dSae] = relu(saeIn W_enc + b_enc + noise);
//   recon [T, dIn] = acts W_dec + b_dec (from the active features when acts is sparse enough);
//   colSums [dSae] = sum over tokens of acts; stats = [sum (recon - x)^2, sum acts * norms (or sum acts)].
napi_value SaeTrainForward(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t nx, nwe, nbe, nwd, nbd, nsi, na, nr, ncs, nst;
    const float* x = args.typed<float>(0, &nx);
    const int64_t T = args.i64(1), dIn = args.i64(2), dSae = args.i64(3);
    const float* wEnc = args.typed<float>(4, &nwe);
    const float* bEnc = args.typed<float>(5, &nbe);
    const float* wDec = args.typed<float>(6, &nwd);
    const float* bDec = args.typed<float>(7, &nbd);
    size_t nn = 0, nno = 0;
    const float* noise = args.isNull(8) ? nullptr : args.typed<float>(8, &nn);
    const float* norms = args.isNull(9) ? nullptr : args.typed<float>(9, &nno);
    const bool applyBDec = args.i64(10) != 0;
    float* saeIn = args.typed<float>(11, &nsi);
    float* acts = args.typed<float>(12, &na);
    float* recon = args.typed<float>(13, &nr);
    float* colSums = args.typed<float>(14, &ncs);
    double* stats = args.typed<double>(15, &nst);
    const double maxDensity = args.f64(16);
    const int64_t td = T * dIn, tD = T * dSae;
    if (static_cast<int64_t>(nx) != td || static_cast<int64_t>(nwe) != dIn * dSae || static_cast<int64_t>(nbe) != dSae ||
        static_cast<int64_t>(nwd) != dIn * dSae || static_cast<int64_t>(nbd) != dIn || static_cast<int64_t>(na) != tD ||
        static_cast<int64_t>(nr) != td || static_cast<int64_t>(ncs) != dSae || nst < 2 || (noise && static_cast<int64_t>(nn) != tD) ||
        (norms && static_cast<int64_t>(nno) != dSae) || (applyBDec && static_cast<int64_t>(nsi) != td))
      throw ArgError{"saeTrainForward: sizes differ"};
    const float* in = x;
    if (applyBDec) {
#pragma omp parallel for schedule(static) num_threads(threadsFor(td))
      for (int64_t r = 0; r < T; r++)
        for (int64_t c = 0; c < dIn; c++) saeIn[r * dIn + c] = x[r * dIn + c] - bDec[c];
      in = saeIn;
    }
    batchedGemm(in, wEnc, acts, 1, 1, 1, T, dSae, dIn, false, false);
    const int threads = threadsFor(tD);
    ColumnSums cs(threads, dSae);
    double l1 = 0;
#pragma omp parallel num_threads(threads) reduction(+ : l1)
    {
      double* mine = cs.of(omp_get_thread_num());
#pragma omp for schedule(static)
      for (int64_t r = 0; r < T; r++)
        l1 += reluRow(acts + r * dSae, bEnc, noise ? noise + r * dSae : nullptr, norms, mine, dSae);
    }
    cs.reduceInto(colSums, threads);
    if (!sparseGemm(acts, T, dSae, wDec, dIn, bDec, recon, maxDensity)) {
      batchedGemm(acts, wDec, recon, 1, 1, 1, T, dIn, dSae, false, false);
#pragma omp parallel for schedule(static) num_threads(threadsFor(td))
      for (int64_t r = 0; r < T; r++)
        for (int64_t c = 0; c < dIn; c++) recon[r * dIn + c] += bDec[c];
    }
    double sq = 0;
#pragma omp parallel for schedule(static) reduction(+ : sq) num_threads(threadsFor(td))
    for (int64_t r = 0; r < T; r++) {
      float s = 0.f;
      for (int64_t c = 0; c < dIn; c++) { const float e = recon[r * dIn + c] - x[r * dIn + c]; s += e * e; }
      sq += s;
    }
    stats[0] = sq;
    stats[1] = l1;
  });
}

// saeTrainBackward(g, T, dIn, dSae, x, saeIn|null, acts, recon, W_enc, W_dec, norms|null, colSums, l1Coef, applyBDec,
//                  dW_enc, db_enc, dW_dec, db_dec, scratch)
// Gradients of loss = mean_t sum_c (recon - x)^2 + l1Coef mean_t sum_j acts_j w_j (w_j = ||W_dec[j]|| when norms
// are given, else 1), scaled by g, for the pass saeTrainForward made. scratch [T, dSae] holds dpre.
napi_value SaeTrainBackward(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    size_t nx, na, nr, nwe, nwd, ncs, ndwe, ndbe, ndwd, ndbd, nsc;
    const double g = args.f64(0);
    const int64_t T = args.i64(1), dIn = args.i64(2), dSae = args.i64(3);
    const float* x = args.typed<float>(4, &nx);
    size_t nsi = 0;
    const float* saeIn = args.isNull(5) ? nullptr : args.typed<float>(5, &nsi);
    const float* acts = args.typed<float>(6, &na);
    const float* recon = args.typed<float>(7, &nr);
    const float* wEnc = args.typed<float>(8, &nwe);
    const float* wDec = args.typed<float>(9, &nwd);
    size_t nno = 0;
    const float* norms = args.isNull(10) ? nullptr : args.typed<float>(10, &nno);
    const float* colSums = args.typed<float>(11, &ncs);
    const double l1Coef = args.f64(12);
    const bool applyBDec = args.i64(13) != 0;
    float* dWEnc = args.typed<float>(14, &ndwe);
    float* dBEnc = args.typed<float>(15, &ndbe);
    float* dWDec = args.typed<float>(16, &ndwd);
    float* dBDec = args.typed<float>(17, &ndbd);
    float* scratch = args.typed<float>(18, &nsc);
    const int64_t td = T * dIn, tD = T * dSae, dD = dIn * dSae;
    if (static_cast<int64_t>(nx) != td || static_cast<int64_t>(na) != tD || static_cast<int64_t>(nr) != td ||
        static_cast<int64_t>(nwe) != dD || static_cast<int64_t>(nwd) != dD || static_cast<int64_t>(ncs) != dSae ||
        static_cast<int64_t>(ndwe) != dD || static_cast<int64_t>(ndbe) != dSae || static_cast<int64_t>(ndwd) != dD ||
        static_cast<int64_t>(ndbd) != dIn || static_cast<int64_t>(nsc) < tD || (saeIn && static_cast<int64_t>(nsi) != td) ||
        (norms && static_cast<int64_t>(nno) != dSae))
      throw ArgError{"saeTrainBackward: sizes differ"};
    const float* in = saeIn ? saeIn : x;
    // d recon = 2 g / T (recon - x); d b_dec = its sum over tokens
    std::vector<float> dRecon(static_cast<size_t>(td));
    const float s2 = static_cast<float>(2.0 * g / static_cast<double>(T));
#pragma omp parallel for schedule(static) num_threads(threadsFor(td))
    for (int64_t i = 0; i < td; i++) dRecon[i] = s2 * (recon[i] - x[i]);
    {
      std::vector<double> sb(static_cast<size_t>(dIn), 0.0);
      for (int64_t r = 0; r < T; r++)
        for (int64_t c = 0; c < dIn; c++) sb[c] += dRecon[r * dIn + c];
      for (int64_t c = 0; c < dIn; c++) dBDec[c] = static_cast<float>(sb[c]);
    }
    // d acts = d recon W_dec^T (+ the L1 term); d pre = d acts where the ReLU passed; d b_enc = its sum over tokens
    batchedGemm(dRecon.data(), wDec, scratch, 1, 1, 1, T, dSae, dIn, false, true);
    const float k = static_cast<float>(g * l1Coef / static_cast<double>(T));
    const int threads = threadsFor(tD);
    ColumnSums cs(threads, dSae);
#pragma omp parallel num_threads(threads)
    {
      double* mine = cs.of(omp_get_thread_num());
#pragma omp for schedule(static)
      for (int64_t r = 0; r < T; r++) reluGradRow(scratch + r * dSae, acts + r * dSae, norms, k, mine, dSae);
    }
    cs.reduceInto(dBEnc, threads);
    batchedGemm(in, scratch, dWEnc, 1, 1, 1, dIn, dSae, T, true, false);
    batchedGemm(acts, dRecon.data(), dWDec, 1, 1, 1, dSae, dIn, T, true, false);
    if (norms) {
      // the L1 weights ||W_dec[j]||: d/dW_dec[j] = k colSums_j W_dec[j] / ||W_dec[j]|| (0 for a zero row, as torch)
#pragma omp parallel for schedule(static) num_threads(threadsFor(dD))
      for (int64_t j = 0; j < dSae; j++) {
        if (!(norms[j] > 0.f)) continue;
        const float s = k * colSums[j] / norms[j];
        for (int64_t c = 0; c < dIn; c++) dWDec[j * dIn + c] += s * wDec[j * dIn + c];
      }
    }
    if (applyBDec) {
      // sae_in = x - b_dec: d b_dec -= W_enc d b_enc
#pragma omp parallel for schedule(static) num_threads(threadsFor(dD))
      for (int64_t c = 0; c < dIn; c++) {
        double s = 0;
        const float* w = wEnc + c * dSae;
        for (int64_t j = 0; j < dSae; j++) s += static_cast<double>(w[j]) * dBEnc[j];
        dBDec[c] -= static_cast<float>(s);
      }
    }
  });
}

}  // namespace saelab
