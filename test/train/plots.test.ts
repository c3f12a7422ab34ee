import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../helpers';
import { lossCurveSpec, readTrainMetrics } from '../../lib/train/plots';
import { formatProgressLine } from '../../lib/train/progress';

test('metrics.jsonl -> Vega-Lite loss curves (one line per metric, log y drops non-positive values)', () => {
  const dir = tmpDir();
  const f = path.join(dir, 'metrics.jsonl');
  const rows = [1, 2].map((s) => ({ step: s * 10, tokens: s * 100, lr: 1, sparsity_coefficient: 1, overall_loss: 2 / s, mse_loss: 1 / s, l1_loss: s === 1 ? 0 : 0.5, l0: 3, explained_variance: 0.9, dead_features: 0, mean_log10_feature_density: -2, elapsed_s: s }));
  fs.writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const m = readTrainMetrics(f);
  assert.strictEqual(m.length, 2);
  const spec = lossCurveSpec(m, ['mse_loss', 'l1_loss']) as any;
  assert.strictEqual(spec.$schema, 'https://vega.github.io/schema/vega-lite/v5.json');
  assert.deepStrictEqual(spec.data.values, [
    { step: 10, metric: 'mse_loss', value: 1 },
    { step: 20, metric: 'mse_loss', value: 0.5 },
    { step: 20, metric: 'l1_loss', value: 0.5 },
  ]);
  assert.strictEqual(spec.encoding.y.scale.type, 'log');
  const line = formatProgressLine({ step: 20, totalSteps: 40, tokens: 200, totalTokens: 400, elapsedS: 2, metrics: m[1] });
  assert.strictEqual(line, 'step 20/40 (50%) | MSE 0.5000 | L1 0.5000 | L0 3.0 | EV 0.900 | dead 0 | 100 tok/s');
});
