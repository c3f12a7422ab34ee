/**
 * The seed's similarity measures of feature i (layer L) and feature j (layer L+1), each computed from
 * aggregate sums over n tokens (REFERENCE.md section 3). All arithmetic in float64.
 */

/** Names of the stored statistics, in the seed's spelling. */
export const ACTIVATION_STATS = [
  'pearson_correlation',
  'activation_cosine_similarity',
  'jaccard_similarity',
  'sufficiency',
  'necessity',
  'jaccard_similarity_relative_activation',
  'sufficiency_relative_activation',
  'necessity_relative_activation',
  'mutual_information',
] as const;
export const DECODER_STAT = 'cosine_similarity';
export type ActivationStat = (typeof ACTIVATION_STATS)[number];
export type CrossLayerStat = ActivationStat | typeof DECODER_STAT;
export const RELATIVE_STATS: ActivationStat[] = ['jaccard_similarity_relative_activation', 'sufficiency_relative_activation', 'necessity_relative_activation'];

/** Storage clamp: |value| below this is stored as 0 (the seed's rule); decoder cosine uses 0.4. */
export const STAT_CLAMP = 0.1;
export const DECODER_CLAMP = 0.4;
/** Relative-activation bound: active means x > 0.2 x the feature's max activation (floored at 0). */
export const RELATIVE_FRACTION = 0.2;

/** Per-feature sums of one layer over the tokens seen. */
export interface FeatureMoments {
  /** sum x  [d] */
  sumX: Float64Array;
  /** sum x^2  [d] */
  sumXX: Float64Array;
  /** #tokens with x > 0  [d] */
  count: Float64Array;
  /** #tokens with x > lb (relative bound)  [d] */
  countRel: Float64Array;
}

/**
 * The seed's storage rule applied to one value, as float32: NaN -> 0, then |v| < clamp -> 0
 * (|v| = clamp kept). The comparison is made in float32, as the seed's float32 tensors do.
 */
export function storeValue(v: number, clamp: number): number {
  if (v !== v) return 0;
  const f = Math.fround(v);
  return Math.abs(f) < Math.fround(clamp) ? 0 : f;
}

/** Relative-activation lower bound of a feature: 0.2 x max activation in float32, floored at 0. */
export function relativeBound(maxActivation: number): number {
  const lb = Math.fround(Math.fround(RELATIVE_FRACTION) * Math.fround(maxActivation));
  return lb > 0 ? lb : 0;
}

/** Pearson correlation from one-pass population sums (NaN when a variance is 0). */
export function pearson(n: number, sx: number, sxx: number, sy: number, syy: number, sxy: number): number {
  const vx = n * sxx - sx * sx;
  const vy = n * syy - sy * sy;
  return (n * sxy - sx * sy) / Math.sqrt(vx * vy);
}

/** sum xy / sqrt(sum x^2 sum y^2) (NaN for 0/0). */
export function activationCosine(sxx: number, syy: number, sxy: number): number {
  return sxy / Math.sqrt(sxx * syy);
}

/** c / (ni + nj - c) (NaN for 0/0). */
export function jaccard(ni: number, nj: number, c: number): number {
  return c / (ni + nj - c);
}

/**
 * Mutual information (natural log) of the binary variables [x_i > 0] and [y_j > 0] from the 2x2 counts
 * n11 = c, n10 = ni - c, n01 = nj - c, n00 = n - ni - nj + c; 0 log 0 = 0.
 */
export function mutualInformation(n: number, ni: number, nj: number, c: number): number {
  if (n <= 0) return 0;
  return miTerm(n, c, ni, nj) + miTerm(n, ni - c, ni, n - nj) + miTerm(n, nj - c, n - ni, nj) + miTerm(n, n - ni - nj + c, n - ni, n - nj);
}

/** p_ab log(p_ab / (p_a p_b)) from counts; 0 when n_ab = 0. */
function miTerm(n: number, nab: number, na: number, nb: number): number {
  return nab > 0 ? (nab / n) * Math.log((nab * n) / (na * nb)) : 0;
}

/** Binary entropy (nats) of a feature active on `k` of `n` tokens: an upper bound on its mutual information. */
export function binaryEntropy(n: number, k: number): number {
  if (n <= 0 || k <= 0 || k >= n) return 0;
  const p = k / n;
  return -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
}
