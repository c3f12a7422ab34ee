/**
 * The explorer site's contract, shared by the builder (Node), the page (browser) and tests: the
 * manifest the page reads (explorer.json), its query parameters, and the result it writes into
 * `<script type="application/json" id="saelab-result">`. No DOM, no Node.
 */

/** A model the page offers. */
export interface ExplorerModel {
  /** hub repo id (or URL of a folder) */
  id: string;
  label: string;
  /** hub revision (default main) */
  revision?: string;
}

/** An SAE the page offers, as `release:saeId`. */
export interface ExplorerSAE {
  spec: string;
  label: string;
  hook: string;
}

/** explorer.json. */
export interface ExplorerManifest {
  generator: 'saelab explorer';
  saelabVersion: string;
  /** base URL of the hub layout the page fetches models and SAEs from (relative to the page, or absolute) */
  hub: string;
  /** folder (relative to the page) of tfjs-backend-wasm's .wasm files */
  wasmPath: string;
  models: ExplorerModel[];
  saes: ExplorerSAE[];
  defaults: { model: string; sae: string; text: string };
  /** dashboard JSON per `${model}|${sae}` (relative paths) */
  dashboards: Record<string, string>;
}

/** The key of a (model, SAE) pair in `dashboards`. */
export function dashboardKey(model: string, sae: string): string {
  return `${model}|${sae}`;
}

/** What the page was asked to show, from its query string. */
export interface ExplorerQuery {
  text?: string;
  model?: string;
  /** release:saeId */
  sae?: string;
  /** selected feature */
  feature?: number;
  /** intervention on the selected feature: multiply it by this (0 ablates) */
  scale?: number;
  /** a browser backend to try first */
  backend?: string;
  /** a hub base URL overriding the manifest's */
  hub?: string;
}

/** Split `release:saeId` (the release may itself contain '/', the id ':' does not start it). */
export function parseSAESpec(spec: string): { release: string; saeId: string } {
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new Error(`sae '${spec}' is not release:saeId (e.g. saelab-demo-res:blocks.2.hook_resid_pre)`);
  return { release: spec.slice(0, i), saeId: spec.slice(i + 1) };
}

/** Parse `?text=...&model=...&sae=release:id&feature=12&scale=0&backend=wasm&hub=URL`; bad numbers are errors naming the parameter. */
export function parseExplorerQuery(search: string): ExplorerQuery {
  const p = new URLSearchParams(search);
  const q: ExplorerQuery = {};
  const str = (k: 'text' | 'model' | 'sae' | 'backend' | 'hub') => { const v = p.get(k); if (v !== null && v !== '') q[k] = v; };
  str('text'); str('model'); str('sae'); str('backend'); str('hub');
  if (q.sae) parseSAESpec(q.sae);
  const feature = p.get('feature');
  if (feature !== null && feature !== '') {
    if (!/^\d+$/.test(feature)) throw new Error(`query parameter feature='${feature}' is not a feature index (a non-negative integer)`);
    q.feature = Number(feature);
  }
  const scale = p.get('scale');
  if (scale !== null && scale !== '') {
    const s = Number(scale);
    if (!Number.isFinite(s)) throw new Error(`query parameter scale='${scale}' is not a number (0 ablates the feature, 2 doubles it)`);
    q.scale = s;
  }
  return q;
}

/** The query string of a page state (for sharing links); keys in a fixed order. */
export function explorerQueryString(q: ExplorerQuery): string {
  const p = new URLSearchParams();
  if (q.text !== undefined) p.set('text', q.text);
  if (q.model) p.set('model', q.model);
  if (q.sae) p.set('sae', q.sae);
  if (q.feature !== undefined) p.set('feature', String(q.feature));
  if (q.scale !== undefined) p.set('scale', String(q.scale));
  if (q.backend) p.set('backend', q.backend);
  if (q.hub) p.set('hub', q.hub);
  return p.toString();
}

/** [token id, logit] pairs. */
export type TokenLogits = Array<[number, number]>;

/** The JSON in #saelab-result once the page has computed. */
export interface ExplorerResult {
  /** token ids the model read (BOS first when the SAE was trained with prepend_bos) */
  tokens: number[];
  /** per token: its top 5 features as [feature, activation] (positive activations only, largest first) */
  top: Array<Array<[number, number]>>;
  model: string;
  sae: string;
  backend: string;
  /** the 10 most likely next tokens after the text, [id, logit] */
  next: TokenLogits;
  /** with a feature and a scale: the next-token logits clean and intervened, on the union of both top-10s */
  intervention?: { feature: number; scale: number; ids: number[]; clean: number[]; intervened: number[] };
}
