/**
 * The text widths plots are laid out with in Node (Helvetica metrics) against Chromium measuring the font
 * the PNGs are drawn with (Liberation Sans, Debian's fonts-liberation2) on a canvas: within 1.5%.
 */
import { test } from 'node:test';
import * as assert from 'assert';
import { textWidth, vegaTextWidth } from '../../lib/plots/textWidth';
import { Chromium } from '../../lib/browser/chromium';

const SAMPLES = [
  'normalised metric (1 = full model, 0 = empty circuit)', 'node threshold |effect|', 'log10 activation',
  'feature log10 density: base vs finetune (r = 0.279)', 'Sixty-five[ years] 0123456789', 'WMQ@#%&*{}|~ ijl.,;:',
];

test('plot text widths match Chromium measuring Liberation Sans (regular and bold)', async () => {
  const browser = await Chromium.launch();
  try {
    const page = await browser.open('about:blank');
    for (const bold of [false, true]) {
      const measured = await page.evaluate<number[]>(`(async () => {
        await document.fonts.load('${bold ? 'bold ' : ''}40px "Liberation Sans"');
        const g = document.createElement('canvas').getContext('2d');
        g.font = '${bold ? 'bold ' : ''}40px "Liberation Sans"';
        return ${JSON.stringify(SAMPLES)}.map((s) => g.measureText(s).width);
      })()`);
      SAMPLES.forEach((s, i) => {
        const ours = textWidth(s, 40, bold);
        assert.ok(Math.abs(ours - measured[i]) <= 0.015 * measured[i], `${bold ? 'bold ' : ''}'${s}': ${ours.toFixed(1)} vs Chromium ${measured[i].toFixed(1)}`);
      });
    }
    await page.close();
  } finally {
    await browser.close();
  }
  // vega's text items: size, weight and multi-line text
  assert.strictEqual(vegaTextWidth({ text: 'ab', fontSize: 10 }), textWidth('ab', 10));
  assert.strictEqual(vegaTextWidth({ text: 'x', fontSize: 20, fontWeight: 'bold' }), textWidth('x', 20, true));
  assert.strictEqual(vegaTextWidth({ fontSize: 11 }, 'line'), textWidth('line', 11));
});
