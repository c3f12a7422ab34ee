/**
 * Vega-Lite v5 spec builders for the pipeline's plots: plain objects (TopLevelSpec) with the data inline
 * (`data.values`), so a notebook can display them as `application/vnd.vegalite.v5+json` or render them to SVG.
 *
 * Size limits keep notebooks light: heatmaps above `maxCells` (default 20,000) are averaged over blocks of
 * rows x columns; scatter plots and lines above `maxPoints` keep every k-th point (evenly strided, the last
 * point kept for lines). Either is stated in the subtitle and in `usermeta.downsampled`.
 * NaN and infinite values become null (Vega-Lite treats them as missing).
 */
import type { TopLevelSpec } from 'vega-lite';

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** Options every builder takes. */
export interface PlotOptions {
  title?: string;
  /** pixels (default 480) */
  width?: number;
  /** pixels (default 300) */
  height?: number;
  xTitle?: string;
  yTitle?: string;
}

/** What a builder did to fit the size limits. */
export interface Downsampling {
  /** heatmaps: rows and columns averaged per cell */
  rowFactor?: number;
  colFactor?: number;
  /** lines / scatter: every `stride`-th point kept */
  stride?: number;
  originalSize: number;
  keptSize: number;
}

type Row = Record<string, number | string | boolean | null>;

/** A finite number or null (JSON has no NaN/inf). */
function num(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : Number(v.toFixed(digits)).toString();
}

function base(o: PlotOptions, defaultTitle: string, subtitle?: string): Pick<TopLevelSpec, '$schema'> & Record<string, unknown> {
  const text = o.title ?? defaultTitle;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: subtitle ? { text, subtitle } : text,
    width: o.width ?? 480,
    height: o.height ?? 300,
  };
}

function strideOf(n: number, maxPoints: number): number {
  return n > maxPoints ? Math.ceil(n / maxPoints) : 1;
}

function downsampleNote(d: Downsampling | undefined): string | undefined {
  if (!d) return undefined;
  if (d.stride) return `every ${d.stride}th of ${d.originalSize} points shown`;
  return `mean over ${d.rowFactor}x${d.colFactor} blocks (${d.originalSize} cells -> ${d.keptSize})`;
}

// ---------------------------------------------------------------------------------------------------- histogram

export interface HistogramSpecOptions extends PlotOptions {
  /** highlight one bin and print its count, e.g. {index: 0, label: 'dead features'} for the zero bin */
  annotate?: { index: number; label: string };
  /** show counts divided by their total (as plotly's histnorm='probability') */
  normalize?: boolean;
  /** clip the y axis at this many times the second-largest bin (the published density plots use 1.5-2) */
  clipToSecondLargest?: number;
}

/** A histogram from precomputed bins (`edges` length n + 1, `counts` length n). */
export function histogramSpec(hist: { edges: ArrayLike<number>; counts: ArrayLike<number> }, o: HistogramSpecOptions = {}): TopLevelSpec {
  const n = hist.counts.length;
  if (hist.edges.length !== n + 1) throw new Error(`histogramSpec: ${hist.edges.length} edges for ${n} counts; pass n + 1 edges`);
  let total = 0;
  for (let i = 0; i < n; i++) total += hist.counts[i];
  const scale = o.normalize && total > 0 ? 1 / total : 1;
  const values: Row[] = [];
  for (let i = 0; i < n; i++) {
    values.push({ bin_start: num(hist.edges[i]), bin_end: num(hist.edges[i + 1]), count: num(hist.counts[i] * scale), annotated: o.annotate?.index === i });
  }
  const wholeCounts = scale === 1 && Array.from(hist.counts).every(Number.isInteger);
  const yTitle = o.yTitle ?? (o.normalize ? 'fraction' : 'count');
  let yScale: Record<string, unknown> | undefined;
  if (o.clipToSecondLargest && n >= 2) {
    const sorted = Array.from(hist.counts).sort((p, q) => q - p);
    if (sorted[1] > 0) yScale = { domain: [0, sorted[1] * scale * o.clipToSecondLargest] };
  }
  // small whole counts get whole ticks: a bin of 2 features would otherwise be read off 0.2, 0.4, ...
  // (Vega-Lite 5 drops axis.tickMinStep)
  let wholeTicks: number[] | undefined;
  if (wholeCounts) {
    const top = Math.ceil((yScale?.domain as number[] | undefined)?.[1] ?? Math.max(0, ...Array.from(hist.counts)));
    if (top <= 10) wholeTicks = Array.from({ length: top + 1 }, (_, i) => i);
  }
  const bars = {
    mark: { type: 'bar', clip: true, tooltip: true },
    encoding: {
      x: { field: 'bin_start', type: 'quantitative', bin: { binned: true }, title: o.xTitle ?? 'value' },
      x2: { field: 'bin_end' },
      y: { field: 'count', type: 'quantitative', title: yTitle, ...(yScale ? { scale: yScale } : {}), ...(wholeTicks ? { axis: { values: wholeTicks } } : {}) },
      color: o.annotate
        ? { field: 'annotated', type: 'nominal', scale: { domain: [false, true], range: ['#4c78a8', '#e45756'] }, legend: null }
        : { value: '#4c78a8' },
    },
  };
  let subtitle: string | undefined;
  if (o.annotate) {
    const i = o.annotate.index;
    if (!(i >= 0 && i < n)) throw new Error(`histogramSpec: annotate.index ${i} is outside [0, ${n})`);
    const v = hist.counts[i] * scale;
    // whole counts with thousands separators (4,077,123 reads better than 4.08e+6)
    subtitle = `${o.annotate.label}: ${Number.isInteger(v) ? v.toLocaleString('en-US') : fmt(v)}`;
  }
  // the annotation is the subtitle, in the highlighted bar's colour (text inside the plot would collide with
  // tall bars at its corner)
  const spec = { ...base(o, 'Histogram', subtitle), data: { values }, layer: [bars] } as Record<string, unknown>;
  if (subtitle) spec.title = { ...(spec.title as object), subtitleColor: '#e45756' };
  return spec as unknown as TopLevelSpec;
}

// ------------------------------------------------------------------------------------------------------ heatmap

export interface HeatmapSpecOptions extends PlotOptions {
  colorTitle?: string;
  /** most cells drawn before block-averaging (default 20,000) */
  maxCells?: number;
  /** Vega color scheme (default viridis) */
  scheme?: string;
}

/** Row and column block factors so that ceil(rows/fr) * ceil(cols/fc) <= maxCells, keeping blocks near-square in cells. */
export function heatmapFactors(rows: number, cols: number, maxCells: number): [number, number] {
  let fr = 1;
  let fc = 1;
  while (Math.ceil(rows / fr) * Math.ceil(cols / fc) > maxCells) {
    // grow the factor of the dimension that still has more blocks
    if (Math.ceil(cols / fc) >= Math.ceil(rows / fr)) fc++;
    else fr++;
  }
  return [fr, fc];
}

/**
 * A heatmap of a row-major [rows, cols] matrix: x = column (position), y = row (sequence), color = value.
 * Above `maxCells` cells, values are averaged over fr x fc blocks (NaN ignored) and each cell spans its block.
 */
export function heatmapSpec(values: ArrayLike<number>, shape: [number, number], o: HeatmapSpecOptions = {}): TopLevelSpec {
  const [rows, cols] = shape;
  if (values.length !== rows * cols) throw new Error(`heatmapSpec: ${values.length} values do not fill shape [${rows}, ${cols}]`);
  const maxCells = o.maxCells ?? 20000;
  const [fr, fc] = heatmapFactors(rows, cols, maxCells);
  const data: Row[] = [];
  for (let r0 = 0; r0 < rows; r0 += fr) {
    for (let c0 = 0; c0 < cols; c0 += fc) {
      let s = 0;
      let k = 0;
      for (let r = r0; r < Math.min(r0 + fr, rows); r++) {
        for (let c = c0; c < Math.min(c0 + fc, cols); c++) {
          const v = values[r * cols + c];
          if (Number.isFinite(v)) {
            s += v;
            k++;
          }
        }
      }
      data.push({ x: c0, x_end: Math.min(c0 + fc, cols), y: r0, y_end: Math.min(r0 + fr, rows), value: k > 0 ? s / k : null });
    }
  }
  const down: Downsampling | undefined = fr * fc > 1 ? { rowFactor: fr, colFactor: fc, originalSize: rows * cols, keptSize: data.length } : undefined;
  return {
    ...base(o, 'Heatmap', downsampleNote(down)),
    data: { values: data },
    mark: { type: 'rect', tooltip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle ?? 'position', scale: { domain: [0, cols], nice: false } },
      x2: { field: 'x_end' },
      y: { field: 'y', type: 'quantitative', title: o.yTitle ?? 'sequence', scale: { domain: [rows, 0], nice: false } },
      y2: { field: 'y_end' },
      color: { field: 'value', type: 'quantitative', title: o.colorTitle ?? 'value', scale: { scheme: o.scheme ?? 'viridis' } },
    },
    ...(down ? { usermeta: { downsampled: down } } : {}),
  } as TopLevelSpec;
}

// ------------------------------------------------------------------------------------------------- line charts

/** One line: y against x, named for the legend. */
export interface LineSeries {
  name?: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface LineSpecOptions extends PlotOptions {
  /** most points per series before striding (default 5,000) */
  maxPoints?: number;
  /** log-scaled y axis */
  logY?: boolean;
  /** legend title when there are several series */
  seriesTitle?: string;
}

function seriesRows(series: LineSeries[], maxPoints: number, xField: string, yField: string): { rows: Row[]; down?: Downsampling } {
  const rows: Row[] = [];
  let down: Downsampling | undefined;
  for (const [k, s] of series.entries()) {
    if (s.x.length !== s.y.length) throw new Error(`line series "${s.name ?? k}": ${s.x.length} x values but ${s.y.length} y values`);
    const n = s.x.length;
    const stride = strideOf(n, maxPoints);
    const name = s.name ?? `series ${k}`;
    let kept = 0;
    for (let i = 0; i < n; i += stride) {
      rows.push({ [xField]: num(s.x[i]), [yField]: num(s.y[i]), series: name });
      kept++;
    }
    if (stride > 1 && (n - 1) % stride !== 0) {
      rows.push({ [xField]: num(s.x[n - 1]), [yField]: num(s.y[n - 1]), series: name });
      kept++;
    }
    if (stride > 1 && (!down || stride > (down.stride ?? 1))) down = { stride, originalSize: n, keptSize: kept };
  }
  return { rows, down };
}

/** A line chart of one or several series (colored and in a legend when several). */
export function lineSpec(series: LineSeries | LineSeries[], o: LineSpecOptions = {}): TopLevelSpec {
  const list = Array.isArray(series) ? series : [series];
  const { rows, down } = seriesRows(list, o.maxPoints ?? 5000, 'x', 'y');
  const multi = list.length > 1;
  return {
    ...base(o, 'Line', downsampleNote(down)),
    data: { values: rows },
    // points on short series: a series of one point (a cohort born at the last checkpoint) is otherwise invisible
    mark: { type: 'line', tooltip: true, point: list.every((l) => l.x.length <= 50) },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle ?? 'x' },
      y: { field: 'y', type: 'quantitative', title: o.yTitle ?? 'y', scale: o.logY ? { type: 'log' } : { zero: false } },
      // the legend lists the series in the order given ('born at 40' before 'born at 150'), not sorted as text
      ...(multi ? { color: { field: 'series', type: 'nominal', title: o.seriesTitle ?? 'series', scale: { domain: [...new Set(rows.map((r) => r.series))] } } } : {}),
    },
    ...(down ? { usermeta: { downsampled: down } } : {}),
  } as TopLevelSpec;
}

/** One training / evaluation curve over steps. */
export interface LossCurve {
  name: string;
  steps: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** Loss curves: several series over the step axis. */
export function lossCurvesSpec(curves: LossCurve[], o: LineSpecOptions = {}): TopLevelSpec {
  if (curves.length === 0) throw new Error('lossCurvesSpec: no curves given');
  const { rows, down } = seriesRows(curves.map((c) => ({ name: c.name, x: c.steps, y: c.values })), o.maxPoints ?? 5000, 'step', 'loss');
  return {
    ...base(o, 'Loss curves', downsampleNote(down)),
    data: { values: rows },
    mark: { type: 'line', tooltip: true },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: o.xTitle ?? 'step' },
      y: { field: 'loss', type: 'quantitative', title: o.yTitle ?? 'loss', scale: o.logY ? { type: 'log' } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: o.seriesTitle ?? 'curve' },
    },
    ...(down ? { usermeta: { downsampled: down } } : {}),
  } as TopLevelSpec;
}

// ----------------------------------------------------------------------------------------------------- scatter

export interface ScatterSpecOptions extends PlotOptions {
  /** most points drawn before striding (default 20,000) */
  maxPoints?: number;
  /** point opacity (default 0.5) */
  opacity?: number;
}

/**
 * A scatter plot with its least-squares line (from x min to x max) and r in the title; `line` comes from
 * the analysis (e.g. linearRegression over all points, before any downsampling here).
 */
export function scatterRegressionSpec(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  line: { slope: number; intercept: number; r: number },
  o: ScatterSpecOptions = {},
): TopLevelSpec {
  if (x.length !== y.length) throw new Error(`scatterRegressionSpec: ${x.length} x values but ${y.length} y values`);
  const n = x.length;
  const stride = strideOf(n, o.maxPoints ?? 20000);
  const points: Row[] = [];
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(x[i])) {
      lo = Math.min(lo, x[i]);
      hi = Math.max(hi, x[i]);
    }
    if (i % stride === 0) points.push({ x: num(x[i]), y: num(y[i]) });
  }
  const down: Downsampling | undefined = stride > 1 ? { stride, originalSize: n, keptSize: points.length } : undefined;
  const ends = Number.isFinite(lo) ? [lo, hi] : [];
  const lineRows = ends.map((v) => ({ x: v, y: num(line.slope * v + line.intercept) }));
  // 0.9996 shown as "1" would claim a perfect correlation: keep a fourth digit when 3 would round to +-1
  const rText = Math.abs(line.r) < 1 && Math.abs(Number(line.r.toFixed(3))) === 1 ? line.r.toFixed(4) : fmt(line.r);
  const title = `${o.title ?? 'Scatter'} (r = ${rText})`;
  return {
    ...base({ ...o, title }, title, downsampleNote(down)),
    layer: [
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 20, opacity: o.opacity ?? 0.6, tooltip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: o.xTitle ?? 'x', scale: { zero: false } },
          y: { field: 'y', type: 'quantitative', title: o.yTitle ?? 'y', scale: { zero: false } },
        },
      },
      {
        data: { values: lineRows },
        // thin and see-through: points lying on the line (methods that agree) stay visible under it
        mark: { type: 'line', color: '#e45756', strokeWidth: 1.5, opacity: 0.6 },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
    ],
    usermeta: { regression: { slope: num(line.slope), intercept: num(line.intercept), r: num(line.r) }, ...(down ? { downsampled: down } : {}) },
  } as TopLevelSpec;
}

// --------------------------------------------------------------------------------------------------------- bar

/** One bar; bars with a `group` are placed side by side within their label. */
export interface Bar {
  label: string;
  value: number;
  group?: string;
}

export interface BarSpecOptions extends PlotOptions {
  /** bars along y instead of x */
  horizontal?: boolean;
  groupTitle?: string;
}

/** A bar chart (grouped when bars carry a `group`). */
export function barSpec(bars: Bar[], o: BarSpecOptions = {}): TopLevelSpec {
  const grouped = bars.some((b) => b.group !== undefined);
  const values = bars.map((b) => ({ label: b.label, value: num(b.value), group: b.group ?? '' }));
  // short labels under vertical bars read level (Vega-Lite turns band labels on their side)
  const level = !o.horizontal && bars.every((b) => b.label.length <= 8);
  const cat = { field: 'label', type: 'nominal', title: o.xTitle ?? '', sort: null, ...(level ? { axis: { labelAngle: 0 } } : {}) };
  const val = { field: 'value', type: 'quantitative', title: o.yTitle ?? 'value' };
  const offset = grouped ? { [o.horizontal ? 'yOffset' : 'xOffset']: { field: 'group', type: 'nominal' } } : {};
  return {
    ...base(o, 'Bar chart'),
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      ...(o.horizontal ? { y: cat, x: val } : { x: cat, y: val }),
      ...offset,
      ...(grouped ? { color: { field: 'group', type: 'nominal', title: o.groupTitle ?? 'group' } } : {}),
    },
  } as TopLevelSpec;
}
