/**
 * PNGs draw each SVG text in the family it names (or its metric-compatible Liberation stand-in):
 * Graphviz's Times titles in a serif, not in whatever font resvg loaded first (a wider sans that
 * overflowed the width Graphviz measured and was clipped at the image's edges).
 */
import { test } from 'node:test';
import * as assert from 'assert';
import { svgToPng, withInstalledFonts } from '../../lib/plots/render';

const svgWith = (family: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="4" y="28" font-family="${family}" font-size="20">Feature circuit (faithfulness 0.94)</text></svg>`;
const png = (family: string) => svgToPng(svgWith(family), { scale: 1 })!.png;

test('generic and classic font families are drawn with the installed stand-in of their kind', () => {
  // Debian's fonts-liberation2 (scripts/install.sh): metric-compatible with Times, Helvetica and Courier
  assert.ok(png('Times,serif').equals(png('Liberation Serif')), 'Times,serif is drawn in Liberation Serif');
  assert.ok(png('serif').equals(png('Liberation Serif')), 'serif is drawn in Liberation Serif');
  assert.ok(png('Helvetica,sans-Serif').equals(png('Liberation Sans')), 'Helvetica is drawn in Liberation Sans');
  assert.ok(png('Courier,monospace').equals(png('Liberation Mono')), 'Courier is drawn in Liberation Mono');
  assert.ok(!png('Times,serif').equals(png('Liberation Sans')), 'a serif title is not drawn sans-serif');
  // the rewriting itself: attribute and style forms, quoted names, unknown names kept in place
  assert.strictEqual(withInstalledFonts('<text font-family="Times,serif">'), `<text font-family="'Liberation Serif'">`);
  assert.strictEqual(withInstalledFonts(`<g style="font-family: 'Courier New', monospace; font-size: 9px">`), `<g style="font-family: 'Liberation Mono'; font-size: 9px">`);
  assert.strictEqual(withInstalledFonts('<text font-family="Inter, sans-serif">'), `<text font-family="Inter, 'Liberation Sans'">`);
});
