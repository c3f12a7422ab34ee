#!/usr/bin/env python3
"""Golden values for test/analysis/*: the seed-001 metrics computed independently with numpy (float64).

Run from the repository root:  /usr/bin/python3 tools/analysis_fixtures.py
Writes test/fixtures/analysis/metrics.json. Inputs are float32-representable so the TypeScript side
(float32 tfjs) sees the same numbers. Never run by the tests themselves.
"""
import json
import math
import os

import numpy as np

rng = np.random.default_rng(20261123)
OUT = os.path.join('test', 'fixtures', 'analysis', 'metrics.json')


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def lst(a):
    return [None if (isinstance(v, float) and math.isnan(v)) else v for v in np.asarray(a, dtype=np.float64).ravel().tolist()]


fx = {}

# --- similarity: cosine (F.normalize, eps 1e-12) and euclidean per token -----------------------
N, C, D = 3, 4, 5
a = f32(rng.normal(size=(N, C, D)))
b = f32(a + 0.7 * rng.normal(size=(N, C, D)))
b[1, 2] = 0.0  # a zero vector: cosine 0
na = np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
nb = np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
cos = ((a / na) * (b / nb)).sum(-1)
eu = np.linalg.norm(a - b, axis=-1)
fx['similarity'] = {
    'shape': [N, C, D], 'base': lst(a), 'finetune': lst(b),
    'cosine': lst(cos), 'euclidean': lst(eu),
    'cosine_mean': cos.mean(), 'euclidean_mean': eu.mean(),
    'cosine_per_sequence': lst(cos.mean(1)), 'cosine_per_position': lst(cos.mean(0)),
    'euclidean_per_sequence': lst(eu.mean(1)), 'euclidean_per_position': lst(eu.mean(0)),
}

# --- outliers: published norm scalar = sqrt(d) / mean over batches of per-batch mean token norm --
batches = [f32(rng.normal(size=(2, 3, 4)) * 3), f32(rng.normal(size=(1, 3, 4)) * 3)]
batches[1][0, 1] *= 10  # one large token
batch_means = [np.linalg.norm(x, axis=-1).mean() for x in batches]
S = math.sqrt(4) / np.mean(batch_means)
thr = 2 * math.sqrt(4)
masks = [np.linalg.norm(S * x, axis=-1) > thr for x in batches]
fx['outliers'] = {
    'batches': [{'shape': list(x.shape), 'values': lst(x)} for x in batches],
    'norm_scalar': S,
    'token_mean_norm': np.concatenate([np.linalg.norm(x, axis=-1).ravel() for x in batches]).mean(),
    'masks': [lst(m.astype(np.float64)) for m in masks],
    'fraction': sum(m.sum() for m in masks) / sum(m.size for m in masks),
}

# --- reconstruction: torcheval-style R2 (one scalar mean) and per-dim explained variance ---------
T, Dm = 12, 6
x = f32(rng.normal(size=(T, Dm)) * 2 + rng.normal(size=(1, Dm)))
xh = f32(x + 0.5 * rng.normal(size=(T, Dm)))
keep = np.ones(T, dtype=bool)
keep[[2, 7]] = False
x[2] = 1e6  # outlier rows must not matter
xs, xhs = x[keep], xh[keep]
sse = ((xs - xhs) ** 2).sum()
r2 = 1 - sse / ((xs - xs.mean()) ** 2).sum()
ev = 1 - (sse / xs.shape[0]) / xs.var(axis=0).sum()
fx['reconstruction'] = {
    'shape': [T, Dm], 'x': lst(x), 'x_hat': lst(xh), 'keep': lst(keep.astype(np.float64)),
    'r2': r2, 'explained_variance': ev, 'mse': sse / xs.size,
}

# --- histogram: numpy.histogram ------------------------------------------------------------------
h_vals = f32(rng.normal(size=200))
h_cases = []
for vals, bins, rng_ in [
    (h_vals, 10, None),
    (h_vals, 7, (-1.0, 1.0)),
    (f32([0, 0.25, 0.5, 0.75, 1.0]), 4, None),
    (f32([2.0, 2.0, 2.0]), 3, None),
    (f32([-3.0, 0.5, 0.5, 10.0, 1.0]), 5, (0.0, 1.0)),
]:
    counts, edges = np.histogram(vals, bins=bins, range=rng_)
    h_cases.append({'values': lst(vals), 'bins': bins, 'range': list(rng_) if rng_ else None,
                    'counts': lst(counts), 'edges': lst(edges)})
fx['histogram'] = h_cases

# --- regression / pearson (scipy.stats.linregress equivalent in numpy) ---------------------------
rx = f32(rng.normal(size=50))
ry = f32(0.8 * rx + 0.3 * rng.normal(size=50) - 1)
slope, intercept = np.polyfit(rx, ry, 1)
fx['regression'] = {'x': lst(rx), 'y': lst(ry), 'slope': slope, 'intercept': intercept,
                    'r': np.corrcoef(rx, ry)[0, 1]}

# --- per-feature activation pearson (np.corrcoef per column) and log error -----------------------
Tn, F = 40, 6
fa = f32(np.maximum(rng.normal(size=(Tn, F)), 0))
fb = f32(np.maximum(fa + 0.3 * rng.normal(size=(Tn, F)), 0))
fa[:, 3] = 0.0  # constant in base: corrcoef NaN
fb[:, 4] = 0.25  # constant in finetune: NaN
with np.errstate(invalid='ignore', divide='ignore'):
    corr = np.array([np.corrcoef(fa[:, i], fb[:, i])[0, 1] for i in range(F)])
err = np.array([np.mean(np.abs(np.log10(fa[:, i] + 1e-10) - np.log10(fb[:, i] + 1e-10))) for i in range(F)])
fx['feature_pearson'] = {'shape': [Tn, F], 'base': lst(fa), 'finetune': lst(fb),
                         'corr': lst(corr), 'nanmean': float(np.nanmean(corr)), 'log_error': lst(err)}

# --- logit vectors: W_dec[i] @ W_U, pearson over the vocabulary; W_U Frobenius figures ------------
d, V, nf = 5, 9, 4
W_dec = f32(rng.normal(size=(nf, d)))
W_U = f32(rng.normal(size=(d, V)))
W_U2 = f32(W_U + 0.2 * rng.normal(size=(d, V)))
L1 = W_dec @ W_U
L2 = W_dec @ W_U2
logit_corr = np.array([np.corrcoef(L1[i], L2[i])[0, 1] for i in range(nf)])
fx['logits'] = {'d': d, 'V': V, 'n': nf, 'W_dec': lst(W_dec), 'W_U': lst(W_U), 'W_U_ft': lst(W_U2),
                'logits_base': lst(L1), 'corr': lst(logit_corr),
                'fro_ratio': np.linalg.norm(W_U) / np.linalg.norm(W_U2), 'fro_diff': np.linalg.norm(W_U - W_U2)}


# --- mulberry32 and partial Fisher-Yates, reimplemented independently ---------------------------
def mulberry32(seed):
    state = seed & 0xFFFFFFFF

    def imul(p, q):
        return (p * q) & 0xFFFFFFFF

    def nxt():
        nonlocal state
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = state
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    return nxt


r = mulberry32(42)
first = [r() for _ in range(5)]
pool = list(range(20))
r = mulberry32(7)
for i in range(5):
    j = i + int(math.floor(r() * (20 - i)))
    pool[i], pool[j] = pool[j], pool[i]
fx['sampling'] = {'seed42_first5': first, 'seed7_sample5_of_20': pool[:5]}

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as fh:
    json.dump(fx, fh, indent=1, default=float)
    fh.write('\n')
print('wrote', OUT)
