/** Vega-Lite spec -> static SVG, rendered by vega in Node (no canvas, no browser). */
// vega 5 / vega-lite 5 ship CommonJS builds (v6 are ESM-only); keep them required lazily so
// importing saelab stays cheap.
type Json = any;

export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

/** Render a Vega-Lite v5 spec to an SVG string. */
export async function renderSvg(spec: Json): Promise<string> {
  const vega = require('vega');
  const vegaLite = require('vega-lite');
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Add the v5 `$schema` when a spec has none. */
export function withSchema(spec: Json): Json {
  return spec.$schema ? spec : { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', ...spec };
}
