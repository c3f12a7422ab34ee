import { renderSvg, svgSize, svgToPng, withSchema, VEGALITE_MIME } from '../plots/render';

/** One display message's content: MIME type -> value. */
export type MimeBundle = Record<string, unknown>;

type WriteDisplayData = (data: { data: MimeBundle; metadata: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) => void;

/** tslab's hook for sending display_data on the current execute request, when running inside the tslab kernel. */
function tslabWriter(): WriteDisplayData | null {
  try {
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: WriteDisplayData | null };
    return jupyter.lastWriteDisplayData ?? null;
  } catch {
    return null;
  }
}

/** True when running inside a tslab notebook kernel. */
export function inNotebook(): boolean {
  return tslabWriter() !== null;
}

/** One display_data message: MIME type -> value, and per-type metadata (an image's display size). */
export interface DisplayMessage {
  data: MimeBundle;
  metadata: Record<string, unknown>;
}

/**
 * Send one display_data message carrying several MIME types (tslab's public API sends one type
 * per message). Outside a notebook, prints the text/plain part. With `displayId`, a later call
 * with `update: true` replaces the same output (used for progress lines).
 */
export function displayBundle(data: MimeBundle, opts: { displayId?: string; update?: boolean; metadata?: Record<string, unknown> } = {}): void {
  const write = tslabWriter();
  if (!write) {
    const text = data['text/plain'];
    if (typeof text === 'string') console.log(text);
    return;
  }
  write({ data, metadata: opts.metadata ?? {}, transient: opts.displayId ? { display_id: opts.displayId } : {} }, !!opts.update);
}

/**
 * The static image of an SVG as MIME data every notebook reader draws: a PNG (rendered in Node by
 * resvg) with its display size as metadata. nbconvert's HTML export passes image/svg+xml through a
 * sanitizer that strips every drawn element, so the SVG itself is not sent. Without resvg for this
 * platform, an <img> with the SVG as a data URI in text/html (which nbconvert keeps as it is).
 */
export function svgImage(svg: string): DisplayMessage {
  const img = svgToPng(svg);
  if (img) {
    return { data: { 'image/png': img.png.toString('base64') }, metadata: { 'image/png': { width: img.width, height: img.height } } };
  }
  const { width } = svgSize(svg);
  const uri = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
  return { data: { 'text/html': `<img src="${uri}" width="${Math.round(width)}" style="max-width:100%;height:auto">` }, metadata: {} };
}

/** The display message of a plot: the Vega-Lite spec (interactive in JupyterLab), its static image and a text line. */
export async function plotMessage(spec: object, opts: { text?: string } = {}): Promise<DisplayMessage> {
  const full = withSchema(spec);
  const image = svgImage(await renderSvg(full));
  const title = typeof full.title === 'string' ? full.title : (full.title as { text?: string } | undefined)?.text;
  return {
    data: { [VEGALITE_MIME]: full, ...image.data, 'text/plain': opts.text ?? `<Vega-Lite plot${title ? `: ${title}` : ''}>` },
    metadata: image.metadata,
  };
}

/**
 * Show a Vega-Lite spec as one output: the Vega-Lite MIME type (interactive in JupyterLab and VS Code)
 * and a PNG rendered in Node (nbconvert HTML, GitHub, any reader without Vega). Returns nothing, so a
 * cell ending in `await showPlot(...)` prints nothing more.
 */
export async function showPlot(spec: object, opts: { text?: string } = {}): Promise<void> {
  const m = await plotMessage(spec, opts);
  displayBundle(m.data, { metadata: m.metadata });
}

/** Show an SVG drawing (a Graphviz circuit, a graph) as a static image; `text` is the plain-text stand-in. */
export function showSvg(svg: string, opts: { text?: string } = {}): void {
  const m = svgImage(svg);
  displayBundle({ ...m.data, 'text/plain': opts.text ?? '<image>' }, { metadata: m.metadata });
}

/** Show markdown (plain text outside notebooks). */
export function showMarkdown(md: string): void {
  displayBundle({ 'text/markdown': md, 'text/plain': md });
}
