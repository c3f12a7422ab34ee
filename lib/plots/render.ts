/** Vega-Lite spec -> static SVG, rendered by vega in Node (no canvas, no browser); SVG -> PNG by resvg. */
// vega 5 / vega-lite 5 ship CommonJS builds (v6 are ESM-only); keep them required lazily so
// importing saelab stays cheap.
import * as fs from 'fs';

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

/** A raster image of an SVG: PNG bytes, and the SVG's own size in CSS pixels (the PNG is `scale` times larger). */
export interface PngImage {
  png: Buffer;
  /** display size in CSS pixels (the SVG's width and height) */
  width: number;
  height: number;
  /** device pixels per CSS pixel in `png` */
  scale: number;
}

export interface PngOptions {
  /** device pixels per CSS pixel (default 2, sharp on high-density screens) */
  scale?: number;
  /** cap on the PNG's width and height in device pixels; the scale is lowered to fit (default 8192) */
  maxSide?: number;
}

type ResvgModule = { Resvg: new (svg: string, opts: object) => { width: number; height: number; render(): { asPng(): Buffer } } };
let resvg: ResvgModule | null | undefined;

/** @resvg/resvg-js (a prebuilt binary from the npm registry), or null when it is not installed for this platform. */
function loadResvg(): ResvgModule | null {
  if (resvg === undefined) {
    try {
      resvg = require('@resvg/resvg-js') as ResvgModule;
    } catch {
      resvg = null;
    }
  }
  return resvg;
}

/** True when SVG -> PNG rendering is available (@resvg/resvg-js loaded). */
export function pngRendererAvailable(): boolean {
  return loadResvg() !== null;
}

/** The size an SVG declares (width/height attributes in px or pt, else its viewBox). */
export function svgSize(svg: string): { width: number; height: number } {
  const open = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const attr = (name: string): number | null => {
    const m = new RegExp(`\\s${name}="([\\d.]+)(px|pt)?"`).exec(open);
    if (!m) return null;
    return m[2] === 'pt' ? (Number(m[1]) * 4) / 3 : Number(m[1]);
  };
  const vb = /\sviewBox="([-\d.\s,]+)"/.exec(open)?.[1].trim().split(/[\s,]+/).map(Number);
  const width = attr('width') ?? vb?.[2] ?? 0;
  const height = attr('height') ?? vb?.[3] ?? 0;
  if (!(width > 0 && height > 0)) throw new Error(`svgSize: the SVG declares no size (width/height or viewBox): ${open.slice(0, 200)}`);
  return { width, height };
}

let families: { sansSerifFamily: string; serifFamily: string; monospaceFamily: string; defaultFontFamily: string } | undefined;

/**
 * The fonts that stand in for generic and missing families: Liberation (metric-compatible with Helvetica,
 * Times and Courier, which Graphviz and Vega measure text with; Debian's fonts-liberation2) when present,
 * else DejaVu (fonts-dejavu-core).
 */
function fontFamilies(): NonNullable<typeof families> {
  if (!families) {
    const dirs = ['/usr/share/fonts/truetype/liberation2', '/usr/share/fonts/truetype/liberation', '/usr/share/fonts/liberation'];
    const liberation = dirs.some((d) => fs.existsSync(`${d}/LiberationSans-Regular.ttf`));
    families = liberation
      ? { sansSerifFamily: 'Liberation Sans', serifFamily: 'Liberation Serif', monospaceFamily: 'Liberation Mono', defaultFontFamily: 'Liberation Sans' }
      : { sansSerifFamily: 'DejaVu Sans', serifFamily: 'DejaVu Serif', monospaceFamily: 'DejaVu Sans Mono', defaultFontFamily: 'DejaVu Sans' };
  }
  return families;
}

/**
 * Rasterise an SVG to PNG with resvg, on a white background, with the system's fonts (fontFamilies for
 * generic or missing ones). Returns null when @resvg/resvg-js is not installed for this platform.
 */
export function svgToPng(svg: string, opts: PngOptions = {}): PngImage | null {
  const mod = loadResvg();
  if (!mod) return null;
  const { width, height } = svgSize(svg);
  const maxSide = opts.maxSide ?? 8192;
  const scale = Math.max(0.05, Math.min(opts.scale ?? 2, maxSide / width, maxSide / height));
  const r = new mod.Resvg(svg, {
    fitTo: { mode: 'width', value: Math.max(1, Math.round(width * scale)) },
    background: 'white',
    font: { loadSystemFonts: true, ...fontFamilies() },
  });
  return { png: r.render().asPng(), width: Math.round(width), height: Math.round(height), scale };
}
