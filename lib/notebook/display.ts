import { renderSvg, withSchema, VEGALITE_MIME } from '../plots/render';

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

/**
 * Send one display_data message carrying several MIME types (tslab's public API sends one type
 * per message). Outside a notebook, prints the text/plain part. With `displayId`, a later call
 * with `update: true` replaces the same output (used for progress lines).
 */
export function displayBundle(data: MimeBundle, opts: { displayId?: string; update?: boolean } = {}): void {
  const write = tslabWriter();
  if (!write) {
    const text = data['text/plain'];
    if (typeof text === 'string') console.log(text);
    return;
  }
  write({ data, metadata: {}, transient: opts.displayId ? { display_id: opts.displayId } : {} }, !!opts.update);
}

/**
 * Show a Vega-Lite spec as one bundle: the Vega-Lite MIME type (interactive in JupyterLab), a static
 * SVG rendered in Node (nbconvert HTML, GitHub) and a text fallback. Returns the bundle.
 */
export async function showPlot(spec: object, opts: { text?: string } = {}): Promise<MimeBundle> {
  const full = withSchema(spec);
  const svg = await renderSvg(full);
  const title = typeof full.title === 'string' ? full.title : (full.title as { text?: string } | undefined)?.text;
  const bundle: MimeBundle = {
    [VEGALITE_MIME]: full,
    'image/svg+xml': svg,
    'text/plain': opts.text ?? `<Vega-Lite plot${title ? `: ${title}` : ''}>`,
  };
  displayBundle(bundle);
  return bundle;
}

/** Show markdown (plain text outside notebooks). */
export function showMarkdown(md: string): void {
  displayBundle({ 'text/markdown': md, 'text/plain': md });
}
