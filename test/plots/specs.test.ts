import { test } from 'node:test';
import * as assert from 'assert';
const vl = require('vega-lite');
const vega = require('vega');
import {
  VEGA_LITE_SCHEMA, barSpec, heatmapFactors, heatmapSpec, histogramSpec, lineSpec, lossCurvesSpec, scatterRegressionSpec,
} from '../../lib/plots';

/** Compiles with vega-lite (collecting warnings) and renders to SVG with vega; returns the warnings. */
async function compileAndRender(spec: unknown): Promise<string[]> {
  const warnings: string[] = [];
  const logger = {
    level() { return logger; },
    info() { return logger; },
    debug() { return logger; },
    warn(...m: unknown[]) { warnings.push(m.join(' ')); return logger; },
    error(...m: unknown[]) { throw new Error(m.join(' ')); },
  };
  assert.deepStrictEqual(JSON.parse(JSON.stringify(spec)), spec, "the spec is plain JSON (no NaN, undefined or typed arrays)");
  // a JSON copy: vega tags inline data objects with symbols (mutating them), and a spec must be plain JSON anyway
  const { spec: vgSpec } = vl.compile(JSON.parse(JSON.stringify(spec)), { logger });
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  const svg: string = await view.toSVG();
  assert.ok(svg.startsWith('<svg'), 'renders to SVG');
  view.finalize();
  return warnings;
}

type Any = any;

test('histogram from precomputed bins, zero bin annotated, normalised and clipped', async () => {
  const hist = { edges: [-10, -6, -2, 2], counts: [900, 30, 70] };
  const spec: Any = histogramSpec(hist, { title: 'Feature activations', xTitle: 'log10 activation', annotate: { index: 0, label: 'zero bin' }, clipToSecondLargest: 1.5 });
  assert.deepStrictEqual(await compileAndRender(spec), []);
  assert.strictEqual(spec.$schema, VEGA_LITE_SCHEMA);
  assert.deepStrictEqual(spec.data.values[0], { bin_start: -10, bin_end: -6, count: 900, annotated: true });
  assert.strictEqual(spec.data.values.length, 3);
  const bars = spec.layer[0];
  assert.deepStrictEqual(bars.encoding.x.bin, { binned: true });
  assert.strictEqual(bars.encoding.x2.field, 'bin_end');
  assert.deepStrictEqual(bars.encoding.y.scale.domain, [0, 105]); // 1.5 x second-largest (70)
  assert.strictEqual(spec.layer[1].encoding.text.value, 'zero bin: 900');
  assert.strictEqual(spec.title.subtitle, 'zero bin: 900');
  const norm: Any = histogramSpec(hist, { normalize: true });
  assert.deepStrictEqual(norm.data.values.map((v: Any) => v.count), [0.9, 0.03, 0.07]);
  assert.strictEqual(norm.layer[0].encoding.y.title, 'fraction');
  assert.deepStrictEqual(await compileAndRender(norm), []);
  assert.throws(() => histogramSpec({ edges: [0, 1], counts: [1, 2] }), /n \+ 1 edges/);
});

test('heatmap: x position, y sequence, color value; downsampled by block means beyond maxCells', async () => {
  const small: Any = heatmapSpec([1, 2, 3, 4, 5, 6], [2, 3], { colorTitle: 'cosine' });
  assert.deepStrictEqual(await compileAndRender(small), []);
  assert.strictEqual(small.data.values.length, 6);
  assert.deepStrictEqual(small.data.values[5], { x: 2, x_end: 3, y: 1, y_end: 2, value: 6 });
  assert.strictEqual(small.encoding.x.title, 'position');
  assert.strictEqual(small.encoding.y.title, 'sequence');
  assert.strictEqual(small.encoding.color.field, 'value');
  assert.strictEqual(small.usermeta, undefined);
  // 4 x 6 with maxCells 6: blocks of 2 x 2 -> 2 x 3 cells, each the mean of its block (NaN ignored)
  const vals = Array.from({ length: 24 }, (_, i) => i);
  vals[0] = NaN;
  const big: Any = heatmapSpec(vals, [4, 6], { maxCells: 6 });
  assert.deepStrictEqual(await compileAndRender(big), []);
  assert.strictEqual(big.data.values.length, 6);
  assert.deepStrictEqual(big.data.values[0], { x: 0, x_end: 2, y: 0, y_end: 2, value: (1 + 6 + 7) / 3 });
  assert.deepStrictEqual(big.data.values[5], { x: 4, x_end: 6, y: 2, y_end: 4, value: (16 + 17 + 22 + 23) / 4 });
  assert.deepStrictEqual(big.usermeta.downsampled, { rowFactor: 2, colFactor: 2, originalSize: 24, keptSize: 6 });
  assert.match(big.title.subtitle, /mean over 2x2 blocks/);
  // the published sizes: 250 sequences x 1024 positions fits in 20k cells
  const [fr, fc] = heatmapFactors(250, 1024, 20000);
  assert.ok(Math.ceil(250 / fr) * Math.ceil(1024 / fc) <= 20000);
});

test('line (one or several series) with striding beyond maxPoints', async () => {
  const one: Any = lineSpec({ x: [0, 1, 2], y: [0.9, NaN, 0.95] }, { xTitle: 'position', yTitle: 'mean cosine' });
  assert.deepStrictEqual(await compileAndRender(one), []);
  assert.deepStrictEqual(one.data.values[1], { x: 1, y: null, series: 'series 0' });
  assert.strictEqual(one.encoding.color, undefined);
  const n = 101;
  const xs = Array.from({ length: n }, (_, i) => i);
  const many: Any = lineSpec([{ name: 'base', x: xs, y: xs }, { name: 'finetune', x: [0, 1], y: [1, 2] }], { maxPoints: 10 });
  assert.deepStrictEqual(await compileAndRender(many), []);
  assert.strictEqual(many.encoding.color.field, 'series');
  const baseRows = many.data.values.filter((r: Any) => r.series === 'base');
  assert.deepStrictEqual(baseRows.map((r: Any) => r.x), [0, 11, 22, 33, 44, 55, 66, 77, 88, 99, 100]); // stride 11, last kept
  assert.strictEqual(many.usermeta.downsampled.stride, 11);
});

test('loss curves: multi-series line over step', async () => {
  const spec: Any = lossCurvesSpec([
    { name: 'train', steps: [0, 10, 20], values: [5, 3, 2] },
    { name: 'val', steps: [0, 20], values: [5.5, 2.5] },
  ], { logY: true });
  assert.deepStrictEqual(await compileAndRender(spec), []);
  assert.strictEqual(spec.data.values.length, 5);
  assert.deepStrictEqual(spec.data.values[3], { step: 0, loss: 5.5, series: 'val' });
  assert.strictEqual(spec.encoding.x.field, 'step');
  assert.strictEqual(spec.encoding.y.scale.type, 'log');
  assert.strictEqual(spec.encoding.color.field, 'series');
  assert.throws(() => lossCurvesSpec([]), /no curves/);
});

test('scatter with regression line and r in the title', async () => {
  const x = [-10, -8, -5, -3, -1];
  const y = [-9.5, -8.2, -5.1, -2.7, -1.2];
  const spec: Any = scatterRegressionSpec(x, y, { slope: 0.95, intercept: -0.1, r: 0.9412 }, { title: 'Log densities', xTitle: 'base', yTitle: 'finetune' });
  assert.deepStrictEqual(await compileAndRender(spec), []);
  assert.strictEqual(spec.title, 'Log densities (r = 0.941)');
  assert.strictEqual(spec.layer[0].data.values.length, 5);
  assert.strictEqual(spec.layer[0].mark.type, 'point');
  assert.deepStrictEqual(spec.layer[1].data.values, [{ x: -10, y: 0.95 * -10 - 0.1 }, { x: -1, y: 0.95 * -1 - 0.1 }]);
  assert.deepStrictEqual(spec.usermeta.regression, { slope: 0.95, intercept: -0.1, r: 0.9412 });
  const big: Any = scatterRegressionSpec(Array.from({ length: 100 }, (_, i) => i), Array.from({ length: 100 }, (_, i) => 2 * i), { slope: 2, intercept: 0, r: 1 }, { maxPoints: 30 });
  assert.strictEqual(big.layer[0].data.values.length, 25); // stride 4
  assert.deepStrictEqual(big.layer[1].data.values, [{ x: 0, y: 0 }, { x: 99, y: 198 }]); // line spans all points
  assert.deepStrictEqual(await compileAndRender(big), []);
});

test('bar chart, plain and grouped', async () => {
  const plain: Any = barSpec([{ label: 'base', value: 0.0076 }, { label: 'finetune', value: 0.0064 }], { yTitle: 'dead fraction' });
  assert.deepStrictEqual(await compileAndRender(plain), []);
  assert.deepStrictEqual(plain.data.values[0], { label: 'base', value: 0.0076, group: '' });
  assert.strictEqual(plain.encoding.x.field, 'label');
  assert.strictEqual(plain.encoding.y.field, 'value');
  const grouped: Any = barSpec([
    { label: 'clean', value: 1.78, group: 'base' }, { label: 'clean', value: 1.94, group: 'finetune' },
    { label: 'spliced', value: 1.93, group: 'base' }, { label: 'spliced', value: 2.1, group: 'finetune' },
  ], { horizontal: true });
  assert.deepStrictEqual(await compileAndRender(grouped), []);
  assert.strictEqual(grouped.encoding.y.field, 'label');
  assert.strictEqual(grouped.encoding.yOffset.field, 'group');
  assert.strictEqual(grouped.encoding.color.field, 'group');
});
