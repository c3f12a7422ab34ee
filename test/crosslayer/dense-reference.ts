/**
 * Plain dense definitions of the seed's cross-layer statistics (REFERENCE.md section 3), written
 * straight from the formulas with two-pass float64 arithmetic, for the tests to compare against.
 * X and Y are dense [T][d] arrays of float32 values (layer L and layer L+1).
 */
export type Dense = number[][];

export function denseCols(X: Dense, i: number): number[] {
  return X.map((row) => row[i]);
}

function f32(x: number): number {
  return new Float32Array([x])[0];
}

/** The seed's storage rule in float32: NaN -> 0; |v| < clamp -> 0. */
export function storeRule(v: number, clamp: number): number {
  if (Number.isNaN(v)) return 0;
  const s = f32(v);
  return Math.abs(s) < f32(clamp) ? 0 : s;
}

/** lb = 0.2 * max (float32 multiply), floored at 0. */
export function relBound(max: number): number {
  const prod = new Float32Array([0.2]);
  prod[0] = prod[0] * f32(max);
  return Math.max(0, prod[0]);
}

export function maxOf(x: number[]): number {
  return x.reduce((a, b) => Math.max(a, b), -Infinity);
}

export function pearsonDense(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let t = 0; t < n; t++) { sxy += (x[t] - mx) * (y[t] - my); sxx += (x[t] - mx) ** 2; syy += (y[t] - my) ** 2; }
  if (sxx === 0 || syy === 0) return NaN;
  return sxy / Math.sqrt(sxx * syy);
}

export function cosineDense(x: number[], y: number[]): number {
  let sxy = 0, sxx = 0, syy = 0;
  for (let t = 0; t < x.length; t++) { sxy += x[t] * y[t]; sxx += x[t] * x[t]; syy += y[t] * y[t]; }
  return sxy / Math.sqrt(sxx * syy);
}

/** Jaccard, sufficiency, necessity of the active sets {x > lbx}, {y > lby}. */
export function setMeasures(x: number[], y: number[], lbx: number, lby: number): { jaccard: number; sufficiency: number; necessity: number } {
  let ni = 0, nj = 0, c = 0;
  for (let t = 0; t < x.length; t++) {
    const a = x[t] > lbx, b = y[t] > lby;
    if (a) ni++;
    if (b) nj++;
    if (a && b) c++;
  }
  return { jaccard: c / (ni + nj - c), sufficiency: c / ni, necessity: c / nj };
}

/** Mutual information (nats) of [x > 0] and [y > 0] straight from the joint distribution. */
export function mutualInfoDense(x: number[], y: number[]): number {
  const n = x.length;
  const joint = [[0, 0], [0, 0]];
  for (let t = 0; t < n; t++) joint[x[t] > 0 ? 1 : 0][y[t] > 0 ? 1 : 0]++;
  const pa = [joint[0][0] + joint[0][1], joint[1][0] + joint[1][1]].map((v) => v / n);
  const pb = [joint[0][0] + joint[1][0], joint[0][1] + joint[1][1]].map((v) => v / n);
  let mi = 0;
  for (const a of [0, 1]) for (const b of [0, 1]) {
    const p = joint[a][b] / n;
    if (p > 0) mi += p * Math.log(p / (pa[a] * pb[b]));
  }
  return mi;
}

/** Every activation statistic of layers (X, Y), dense [d][d] after the storage rule. */
export function denseStats(X: Dense, Y: Dense, relative: boolean): Record<string, number[][]> {
  const d = X[0].length;
  const names = ['pearson_correlation', 'activation_cosine_similarity', 'jaccard_similarity', 'sufficiency', 'necessity', 'mutual_information'];
  if (relative) names.push('jaccard_similarity_relative_activation', 'sufficiency_relative_activation', 'necessity_relative_activation');
  const out: Record<string, number[][]> = {};
  for (const s of names) out[s] = Array.from({ length: d }, () => new Array(d).fill(0));
  const xs = Array.from({ length: d }, (_, i) => denseCols(X, i));
  const ys = Array.from({ length: d }, (_, j) => denseCols(Y, j));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      const x = xs[i], y = ys[j];
      out.pearson_correlation[i][j] = storeRule(pearsonDense(x, y), 0.1);
      out.activation_cosine_similarity[i][j] = storeRule(cosineDense(x, y), 0.1);
      const s0 = setMeasures(x, y, 0, 0);
      out.jaccard_similarity[i][j] = storeRule(s0.jaccard, 0.1);
      out.sufficiency[i][j] = storeRule(s0.sufficiency, 0.1);
      out.necessity[i][j] = storeRule(s0.necessity, 0.1);
      out.mutual_information[i][j] = storeRule(mutualInfoDense(x, y), 0.1);
      if (relative) {
        const sr = setMeasures(x, y, relBound(maxOf(x)), relBound(maxOf(y)));
        out.jaccard_similarity_relative_activation[i][j] = storeRule(sr.jaccard, 0.1);
        out.sufficiency_relative_activation[i][j] = storeRule(sr.sufficiency, 0.1);
        out.necessity_relative_activation[i][j] = storeRule(sr.necessity, 0.1);
      }
    }
  }
  return out;
}

/** Dead features at each checkpoint k*C: [steps][thresholds][layers]. */
export function denseDeadFeatures(layers: Dense[], C: number, thresholds: number[]): number[][][] {
  const T = layers[0].length;
  const out: number[][][] = [];
  for (let k = 1; k * C <= T; k++) {
    out.push(thresholds.map((thr) => layers.map((X) => {
      let dead = 0;
      for (let f = 0; f < X[0].length; f++) {
        let c = 0;
        for (let t = 0; t < k * C; t++) if (X[t][f] > 0) c++;
        if (c <= thr) dead++;
      }
      return dead;
    })));
  }
  return out;
}

/** Dead pairs at each checkpoint: [thresholds][layer pairs][steps], over rows [r0, r1) x all columns. */
export function denseDeadPairs(layers: Dense[], C: number, thresholds: number[], rows?: [number, number]): number[][][] {
  const T = layers[0].length;
  const d = layers[0][0].length;
  const [r0, r1] = rows ?? [0, d];
  return thresholds.map((thr) => layers.slice(0, -1).map((X, P) => {
    const Y = layers[P + 1];
    const series: number[] = [];
    for (let k = 1; k * C <= T; k++) {
      let dead = 0;
      for (let i = r0; i < r1; i++) for (let j = 0; j < d; j++) {
        let c = 0;
        for (let t = 0; t < k * C; t++) if (X[t][i] > 0 && Y[t][j] > 0) c++;
        if (c <= thr) dead++;
      }
      series.push(dead);
    }
    return series;
  }));
}

/** Decoder cosine of W rows (float64), after the 0.4 storage rule. */
export function denseDecoderCosine(WA: number[][], WB: number[][]): number[][] {
  return WA.map((a) => WB.map((b) => storeRule(cosineDense(a, b), 0.4)));
}
