/**
 * The explorer page: loads the manifest, the model and SAE (over fetch, through lib's browser
 * build), runs the text, and shows tokens with their top features, a feature's dashboard, and the
 * next-token prediction with the feature ablated or scaled. When a computation finishes it writes
 * the result into <script type="application/json" id="saelab-result">.
 */
import {
  HookedTransformer, SAE, Tokenizer, tokenDisplayText, BrowserBackendInfo, configureHub, initBrowserBackend, isBrowserBackend, modelOptionsFromSAE,
  checkSAEFitsModel, FromPretrainedOptions, SAELAB_VERSION,
} from '../../lib/web';
import { analyseTokens, intervenedLastLogits, softmax, topNextTokens, TextAnalysis } from '../../lib/explorer/compute';
import { decoderLogitEffects, TokenEffects } from '../../lib/features/logitEffects';
import { ExplorerManifest, ExplorerQuery, ExplorerResult, dashboardKey, explorerQueryString, parseExplorerQuery, parseSAESpec } from '../../lib/explorer/manifest';
import type { DashboardJson, DashboardFeature } from '../../lib/explorer/dashboard';
import { el, clear, featureColor, heat, tokenText, visibleText } from './dom';

interface Loaded {
  model: HookedTransformer;
  sae: SAE;
  tokenizer: Tokenizer;
  modelId: string;
  saeSpec: string;
}

const state = {
  manifest: undefined as ExplorerManifest | undefined,
  query: {} as ExplorerQuery,
  backend: undefined as BrowserBackendInfo | undefined,
  models: new Map<string, Promise<HookedTransformer>>(),
  saes: new Map<string, Promise<SAE>>(),
  dashboards: new Map<string, Promise<DashboardJson | undefined>>(),
  loaded: undefined as Loaded | undefined,
  analysis: undefined as TextAnalysis | undefined,
  dashboard: undefined as DashboardJson | undefined,
  feature: undefined as number | undefined,
  scale: 0,
  intervened: undefined as Float32Array | undefined,
  runId: 0,
  /** a note on how the query was read (shown in the footer) */
  notice: '',
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function setStatus(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

function fail(e: unknown): void {
  const msg = (e as Error)?.message ?? String(e);
  console.error(e);
  setStatus('failed (see below)', true);
  // nothing computed earlier stays on screen beside the error, as if it were this input's
  clear($('tokens')).append(el('div', { class: 'panel error', role: 'alert' }, el('strong', {}, 'Could not compute: '), msg));
  clear($('feature'));
  clear($('intervene')).style.display = 'none';
  clear($('next'));
  $('feature-empty').style.display = 'none';
  document.getElementById('saelab-result')?.remove();
  document.body.dataset.state = 'error';
  document.body.dataset.error = msg;
}

/** The tokens card while the model and SAE load (the first time they are downloaded). */
function showLoading(what: string): void {
  clear($('tokens')).append(el('div', { class: 'panel loading' }, el('span', { class: 'spinner' }), what));
}

// ------------------------------------------------------------------ loading

function loadModel(id: string, opts: FromPretrainedOptions): Promise<HookedTransformer> {
  const key = `${id}|${JSON.stringify(opts)}`;
  if (!state.models.has(key)) {
    const p = HookedTransformer.fromPretrained(id, opts);
    p.catch(() => state.models.delete(key));
    state.models.set(key, p);
  }
  return state.models.get(key)!;
}

function loadSAE(spec: string): Promise<SAE> {
  if (!state.saes.has(spec)) {
    const { release, saeId } = parseSAESpec(spec);
    const p = SAE.fromPretrained(release, saeId);
    p.catch(() => state.saes.delete(spec));
    state.saes.set(spec, p);
  }
  return state.saes.get(spec)!;
}

function loadDashboard(modelId: string, spec: string): Promise<DashboardJson | undefined> {
  const key = dashboardKey(modelId, spec);
  const rel = state.manifest!.dashboards[key];
  if (!rel) return Promise.resolve(undefined);
  if (!state.dashboards.has(key)) {
    state.dashboards.set(key, fetch(rel).then((r) => (r.ok ? r.json() : undefined)).catch(() => undefined));
  }
  return state.dashboards.get(key)!;
}

/** The model loaded the way the SAE's metadata says (model_from_pretrained_kwargs), as the CLI and lib do. */
async function loadPair(modelId: string, saeSpec: string): Promise<Loaded> {
  const sae = await loadSAE(saeSpec);
  const revision = state.manifest!.models.find((m) => m.id === modelId)?.revision;
  const spec = modelOptionsFromSAE(sae, revision ? { revision } : {}, { emit: false });
  const model = await loadModel(modelId, spec.options as FromPretrainedOptions);
  checkSAEFitsModel(sae, model);
  const tokenizer = model.tokenizer as Tokenizer | null;
  if (!tokenizer) throw new Error(`${modelId} has no tokenizer.json`);
  return { model, sae, tokenizer, modelId, saeSpec };
}

// ------------------------------------------------------------------ running

function decode(id: number): string {
  return tokenDisplayText(state.loaded!.tokenizer, id);
}

async function run(): Promise<void> {
  const id = ++state.runId;
  const modelId = $<HTMLSelectElement>('model').value;
  const saeSpec = $<HTMLSelectElement>('sae').value;
  const text = $<HTMLTextAreaElement>('text').value;
  document.body.dataset.state = 'computing';
  setStatus(`loading ${modelId} and ${saeSpec}…`);
  if (!state.analysis || document.body.dataset.error) {
    showLoading(`Loading ${modelId} and the SAE ${saeSpec} into the page (downloaded once, then cached by the browser)…`);
  }
  delete document.body.dataset.error;
  const t0 = performance.now();
  const loaded = await loadPair(modelId, saeSpec);
  if (id !== state.runId) return;
  if (state.loaded && (state.loaded.modelId !== modelId || state.loaded.saeSpec !== saeSpec)) state.feature = undefined;
  state.loaded = loaded;
  const prependBos = loaded.sae.cfg.metadata.prepend_bos ?? true;
  const ids = loaded.tokenizer.toIds(text, prependBos);
  const nCtx = loaded.model.cfg.n_ctx;
  if (ids.length > nCtx) throw new Error(`the text has ${ids.length} tokens; ${modelId} reads at most ${nCtx}`);
  setStatus('computing…');
  const t1 = performance.now();
  const analysis = await analyseTokens(loaded.model, loaded.sae, ids);
  if (id !== state.runId) return;
  state.analysis = analysis;
  state.dashboard = await loadDashboard(modelId, saeSpec);
  if (state.feature !== undefined && state.feature >= loaded.sae.cfg.d_sae) state.feature = undefined;
  const ms = performance.now() - t1;
  renderTokens();
  await renderFeatureAndNext();
  if (id !== state.runId) return;
  setStatus(`${ids.length} tokens · forward pass + SAE in ${ms.toFixed(0)} ms on ${state.backend!.name} (load ${(t1 - t0).toFixed(0)} ms)`);
  writeResult();
  updateUrl();
  document.body.dataset.state = 'ready';
}

function runSafely(): void {
  run().catch(fail);
}

/** #saelab-result: tokens, each token's top 5 features, the next-token top 10, and the intervention. */
function writeResult(): void {
  const a = state.analysis!;
  const next = topNextTokens(a.lastLogits, 10);
  const result: ExplorerResult = {
    tokens: a.tokens,
    top: a.top,
    model: state.loaded!.modelId,
    sae: state.loaded!.saeSpec,
    backend: state.backend!.name,
    next: next.map(([i, l]) => [i, l]),
  };
  if (state.feature !== undefined && state.intervened) {
    const cleanTop = topNextTokens(a.lastLogits, 10).map(([i]) => i);
    const intTop = topNextTokens(state.intervened, 10).map(([i]) => i);
    const ids = [...new Set([...cleanTop, ...intTop])];
    result.intervention = {
      feature: state.feature, scale: state.scale, ids,
      clean: ids.map((i) => a.lastLogits[i]), intervened: ids.map((i) => state.intervened![i]),
    };
  }
  let node = document.getElementById('saelab-result') as HTMLScriptElement | null;
  if (!node) {
    node = document.createElement('script');
    node.type = 'application/json';
    node.id = 'saelab-result';
    document.body.appendChild(node);
  }
  node.textContent = JSON.stringify(result);
}

function updateUrl(): void {
  const q: ExplorerQuery = {
    text: $<HTMLTextAreaElement>('text').value, model: state.loaded!.modelId, sae: state.loaded!.saeSpec,
    feature: state.feature, scale: state.feature !== undefined ? state.scale : undefined, backend: state.query.backend, hub: state.query.hub,
  };
  history.replaceState(null, '', `?${explorerQueryString(q)}`);
}

// ------------------------------------------------------------------ rendering

/** Largest activation of feature f: over the dashboard sample when known, else over this text. */
function featureMax(f: number): number {
  const d = state.dashboard?.features[f]?.max ?? 0;
  const a = state.analysis!;
  let m = 0;
  for (let p = 0; p < a.tokens.length; p++) m = Math.max(m, a.acts[p * a.dSae + f]);
  return Math.max(d, m, 1e-6);
}

function featureTag(f: number, act: number, selected: boolean): HTMLElement {
  const t = el('div', { class: `feat${selected ? ' sel' : ''}`, title: `feature ${f}: activation ${act.toFixed(4)} (click to inspect)`, 'data-feature': String(f) },
    el('span', {}, `#${f}`), el('span', { class: 'val' }, act.toFixed(2)));
  t.style.background = featureColor(f, 0.18 + 0.6 * Math.min(1, act / featureMax(f)));
  t.addEventListener('click', () => selectFeature(f));
  return t;
}

function renderTokens(): void {
  const a = state.analysis!;
  const box = clear($('tokens'));
  const f = state.feature;
  const max = f === undefined ? 0 : featureMax(f);
  a.tokens.forEach((id, p) => {
    const str = el('span', { class: 'str', title: `token ${id}` });
    str.append(...tokenText(decode(id)));
    if (f !== undefined) str.style.background = heat(a.acts[p * a.dSae + f] / max);
    const card = el('div', { class: `tok${f !== undefined && a.acts[p * a.dSae + f] > 0 ? ' sel' : ''}` }, el('span', { class: 'pos' }, String(p)), str);
    if (!a.top[p].length) card.append(el('div', { class: 'none' }, 'no feature fires'));
    for (const [feat, act] of a.top[p]) card.append(featureTag(feat, act, feat === f));
    box.append(card);
  });
}

function effectList(title: string, rows: Array<[number, number]>, cls: 'up' | 'down', scaleMax: number, fmt: (v: number) => string): HTMLElement {
  const col = el('div', {}, el('div', { class: 'coltitle' }, title));
  for (const [id, v] of rows) {
    const t = el('span', { class: 't', title: `token ${id}` });
    t.append(...tokenText(decode(id)));
    const bar = el('div', { class: 'bar' });
    bar.style.width = `${Math.max(2, (64 * Math.abs(v)) / scaleMax)}px`;
    col.append(el('div', { class: `eff ${cls}` }, t, bar, el('span', { class: 'v' }, fmt(v))));
  }
  return col;
}

function effectsBlock(e: TokenEffects, fmt: (v: number) => string): HTMLElement {
  const m = Math.max(1e-9, ...e.promoted.map(([, v]) => Math.abs(v)), ...e.suppressed.map(([, v]) => Math.abs(v)));
  return el('div', { class: 'effects' }, effectList('promotes', e.promoted, 'up', m, fmt), effectList('suppresses', e.suppressed, 'down', m, fmt));
}

function examplesBlock(f: DashboardFeature): HTMLElement {
  const box = el('div', { class: 'examples' });
  for (const ex of f.examples) {
    const ctx = el('div', { class: 'ctx', title: `sample sequence ${ex.s}, position ${ex.p}` });
    ex.t.forEach((id, i) => {
      const s = el('span', { class: i === ex.c ? 'hit' : '' });
      s.append(...tokenText(decode(id)));
      if (ex.v[i] > 0) s.style.background = heat(ex.v[i] / f.max);
      ctx.append(s);
    });
    box.append(el('div', { class: 'ex' }, el('span', { class: 'a' }, ex.a.toFixed(3)), ctx));
  }
  return box;
}

async function renderFeature(): Promise<void> {
  const f = state.feature;
  const box = clear($('feature'));
  $('feature-empty').style.display = f === undefined ? '' : 'none';
  if (f === undefined) return;
  const a = state.analysis!;
  const { sae, model } = state.loaded!;
  const dash = state.dashboard?.features[f];
  const values = a.tokens.map((_, p) => a.acts[p * a.dSae + f]);
  const max = featureMax(f);
  const fid = el('span', { class: 'fid' }, `#${f}`);
  fid.style.background = featureColor(f, 0.35);
  const meta = dash
    ? `fires on ${(100 * dash.frac).toFixed(2)}% of ${state.dashboard!.sample.tokens.toLocaleString('en')} sample tokens · max ${dash.max.toFixed(3)}`
    : state.dashboard ? 'never fires on the dashboard sample' : 'no dashboard for this model and SAE';
  box.append(el('div', { class: 'fhead' }, fid, el('span', { class: 'meta' }, `${sae.cfg.metadata.hook_name} · ${meta}`)));

  box.append(el('h3', {}, 'Activation over your text'));
  const heatLine = el('div', { class: 'heat' });
  a.tokens.forEach((id, p) => {
    const s = el('span', { class: 'ht', title: `position ${p}: ${values[p].toFixed(4)}` });
    const t = el('span', { class: 'htt' });
    t.append(...tokenText(decode(id)));
    t.style.background = heat(values[p] / max);
    s.append(t, el('span', { class: 'htv' }, values[p] > 0 ? values[p].toFixed(values[p] < 10 ? 2 : 1) : ''));
    heatLine.append(s);
  });
  box.append(heatLine);

  const sampleLabel = state.dashboard ? state.dashboard.sample.texts.map((t) => t.label).join(' + ') : '';
  box.append(el('h3', {}, 'Top activating examples ', el('span', { class: 'hint' }, sampleLabel ? `in ${sampleLabel}` : '')));
  if (dash) box.append(examplesBlock(dash));
  else box.append(el('p', { class: 'hint' }, state.dashboard ? 'It never fires on the sample.' : 'No precomputed dashboard for this pair (npm run explorer:build computes them).'));

  box.append(el('h3', {}, 'Effect on the next token ', el('span', { class: 'hint' }, dash?.effects ? `measured: mean change of the next-token probability when it is zero-ablated at its top ${dash.effects.examples} example${dash.effects.examples === 1 ? '' : 's'}` : '')));
  if (dash?.effects) box.append(effectsBlock(dash.effects, (v) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)} pp`));
  else box.append(el('p', { class: 'hint' }, 'Not precomputed for this pair.'));

  box.append(el('h3', {}, 'Decoder direction through the unembedding ', el('span', { class: 'hint' }, 'W_dec[f] · W_U, computed here')));
  const [direct] = await decoderLogitEffects(sae, model.W_U, [f], 8);
  box.append(effectsBlock(direct, (v) => (v >= 0 ? '+' : '') + v.toFixed(2)));
}

/** Highest probability among the top tokens of these logit rows (bars of compared lists share a scale). */
function topProb(...rows: Float32Array[]): number {
  return Math.max(1e-9, ...rows.map((l) => topNextTokens(l, 1)[0][2]));
}

function nextList(title: string, logits: Float32Array, barMax: number, compare?: Float32Array, compact = false): HTMLElement {
  const top = topNextTokens(logits, 10);
  const col = el('div', {}, el('div', { class: 'coltitle' }, title));
  const ref = compare ? topNextTokens(compare, 10).map(([i]) => i) : undefined;
  const refProbs = compare ? softmax(compare) : undefined;
  top.forEach(([id, , p], r) => {
    const t = el('span', { class: 't', title: `token ${id}` });
    t.append(...tokenText(decode(id)));
    const bar = el('div', { class: 'bar' });
    bar.style.width = `${Math.max(2, ((compact ? 40 : 90) * p) / barMax)}px`;
    let mv = el('span', { class: 'mv' });
    let changed = false;
    if (ref) {
      const before = ref.indexOf(id);
      if (before < 0) { mv = el('span', { class: 'mv upv', title: 'new in the top 10' }, '★'); changed = true; }
      else if (before > r) { mv = el('span', { class: 'mv upv', title: `was #${before + 1}` }, '▲'); changed = true; }
      else if (before < r) { mv = el('span', { class: 'mv downv', title: `was #${before + 1}` }, '▼'); changed = true; }
    }
    let delta = el('span', { class: 'd' });
    if (refProbs) {
      const before = refProbs[id];
      const pp = 100 * (p - before);
      const shown = Math.abs(pp) < 0.05 ? '0.0' : `${pp > 0 ? '+' : ''}${pp.toFixed(1)}`;
      delta = el('span', { class: `d ${pp >= 0.05 ? 'upv' : pp <= -0.05 ? 'downv' : ''}`, title: `clean ${(100 * before).toFixed(2)}%` }, shown);
    }
    col.append(el('div', { class: `nt${changed ? ' changed' : ''}` }, el('span', { class: 'r' }, String(r + 1)), t, bar, el('span', { class: 'p' }, `${(100 * p).toFixed(1)}%`), delta, mv));
  });
  return col;
}

function scaleLabel(s: number): string {
  return s === 0 ? 'ablated (×0)' : `×${s}`;
}

async function renderNext(): Promise<void> {
  const a = state.analysis!;
  const f = state.feature;
  const iv = clear($('intervene'));
  const box = clear($('next'));
  if (f === undefined) {
    iv.style.display = 'none';
    box.append(el('p', { class: 'hint' }, `Most likely tokens after “${tailText()}”`), el('div', { class: 'nextcols single' }, nextList('clean', a.lastLogits, topProb(a.lastLogits))));
    state.intervened = undefined;
    return;
  }
  iv.style.display = '';
  iv.className = 'intervene';
  const slider = el('input', { type: 'range', min: '-2', max: '6', step: '0.25', value: String(state.scale), 'aria-label': 'scale' }) as HTMLInputElement;
  const scaleOut = el('span', { class: 'scale' }, `×${state.scale}`);
  slider.addEventListener('input', () => { scaleOut.textContent = `×${slider.value}`; });
  slider.addEventListener('change', () => setScale(Number(slider.value)));
  const btn = (label: string, s: number, id: string) => {
    const b = el('button', { id, class: state.scale === s ? 'active' : '' }, label);
    b.addEventListener('click', () => setScale(s));
    return b;
  };
  iv.append(
    el('div', { class: 'row' }, el('strong', {}, `Intervene on feature #${f}`), el('span', { class: 'hint' }, 'at every position, through the SAE with its error term')),
    el('div', { class: 'row' }, btn('Ablate ×0', 0, 'ablate'), btn('×0.5', 0.5, 'half'), btn('×2', 2, 'double'), btn('×4', 4, 'quadruple')),
    el('div', { class: 'row' }, el('span', { class: 'hint' }, 'scale'), slider, scaleOut),
  );
  const { model, sae } = state.loaded!;
  state.intervened = await intervenedLastLogits(model, sae, a.tokens, f, state.scale);
  // the tokens whose probability moved most
  const pClean = softmax(a.lastLogits);
  const pInt = softmax(state.intervened);
  const moved = Array.from(pClean.keys()).sort((x, y) => Math.abs(pInt[y] - pClean[y]) - Math.abs(pInt[x] - pClean[x]) || x - y).slice(0, 3);
  const barMax = topProb(a.lastLogits, state.intervened);
  box.append(el('p', { class: 'hint' }, `Most likely tokens after “${tailText()}”`),
    el('div', { class: 'nextcols' }, nextList('clean', a.lastLogits, barMax, undefined, true), nextList(`feature #${f} ${scaleLabel(state.scale)}`, state.intervened, barMax, a.lastLogits, true)));
  const fires = a.acts[(a.tokens.length - 1) * a.dSae + f] > 0 || a.tokens.some((_, p) => a.acts[p * a.dSae + f] > 0);
  const shift = (i: number) => { const pp = 100 * (pInt[i] - pClean[i]); return `${visibleText(decode(i))} ${Math.abs(pp) < 0.005 ? '0.00' : `${pp > 0 ? '+' : ''}${pp.toFixed(2)}`} pp`; };
  box.append(el('p', { class: 'summary' }, fires
    ? `Biggest shifts in probability: ${moved.map(shift).join(' · ')}`
    : `Feature #${f} does not fire on this text, so scaling it changes nothing.`));
}

function tailText(): string {
  const t = $<HTMLTextAreaElement>('text').value.trim();
  return t.length > 28 ? `…${t.slice(-28)}` : t;
}

async function renderFeatureAndNext(): Promise<void> {
  await renderFeature();
  await renderNext();
}

// ------------------------------------------------------------------ interaction

function selectFeature(f: number): void {
  state.feature = state.feature === f ? undefined : f;
  const go = async () => {
    renderTokens();
    await renderFeatureAndNext();
    writeResult();
    updateUrl();
  };
  go().catch(fail);
}

function setScale(s: number): void {
  state.scale = s;
  const go = async () => {
    await renderNext();
    writeResult();
    updateUrl();
  };
  go().catch(fail);
}

function renderRuntime(): void {
  const b = state.backend!;
  const box = clear($('runtime'));
  box.append(
    el('span', { class: 'badge ok', title: b.skipped.map((s) => `${s.name}: ${s.reason}`).join('\n') || 'first choice', id: 'backend' }, `backend: ${b.name}`),
    el('span', { class: 'badge muted' }, `tfjs ${b.tfjs}`),
    el('span', { class: 'badge muted' }, `saelab ${SAELAB_VERSION}`),
  );
  const m = state.manifest!;
  clear($('footer')).append(
    el('div', {}, `Models and SAEs are fetched from ${new URL(state.query.hub ?? m.hub, location.href).href} in the Hugging Face hub's layout and run here with TensorFlow.js (${b.name}). `,
      b.skipped.length ? `Not used: ${b.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.` : ''),
    el('div', {}, 'Share this state: the address bar holds ?text=…&model=…&sae=release:id&feature=…&scale=…'),
  );
  const notice = $('notice');
  notice.textContent = state.notice;
  notice.hidden = !state.notice;
}

async function boot(): Promise<void> {
  state.query = parseExplorerQuery(location.search);
  const res = await fetch('explorer.json');
  if (!res.ok) throw new Error(`explorer.json: HTTP ${res.status} (serve the folder npm run explorer:build wrote)`);
  const m = (state.manifest = (await res.json()) as ExplorerManifest);
  configureHub({ endpoint: new URL(state.query.hub ?? m.hub, location.href).href });
  let prefer = state.query.backend;
  if (prefer !== undefined && !isBrowserBackend(prefer)) {
    state.notice = `backend=${prefer} is not one of webgpu, webgl, wasm, cpu: the backend was chosen automatically.`;
    prefer = state.query.backend = undefined;
  }

  const modelSel = $<HTMLSelectElement>('model');
  const models = [...m.models];
  if (state.query.model && !models.some((x) => x.id === state.query.model)) models.push({ id: state.query.model, label: state.query.model });
  for (const x of models) modelSel.append(el('option', { value: x.id }, x.label));
  modelSel.value = state.query.model ?? m.defaults.model;
  const saeSel = $<HTMLSelectElement>('sae');
  const saes = [...m.saes];
  if (state.query.sae && !saes.some((x) => x.spec === state.query.sae)) saes.push({ spec: state.query.sae, label: state.query.sae, hook: '' });
  for (const x of saes) saeSel.append(el('option', { value: x.spec }, `${x.label} (${parseSAESpec(x.spec).release})`));
  saeSel.value = state.query.sae ?? m.defaults.sae;
  const text = $<HTMLTextAreaElement>('text');
  text.value = state.query.text ?? m.defaults.text;
  // as tall as its text (wrapped lines included), up to about ten lines
  const fit = () => { text.style.height = 'auto'; text.style.height = `${Math.min(text.scrollHeight + 2, 240)}px`; };
  fit();
  text.addEventListener('input', fit);
  window.addEventListener('resize', fit);
  state.feature = state.query.feature;
  state.scale = state.query.scale ?? 0;

  const backendSel = $<HTMLSelectElement>('backend-select');
  backendSel.value = prefer ?? '';
  backendSel.addEventListener('change', () => {
    // the address bar holds the current state; reload it with the new backend
    const p = new URLSearchParams(location.search);
    if (backendSel.value) p.set('backend', backendSel.value);
    else p.delete('backend');
    location.search = p.toString();
  });
  modelSel.addEventListener('change', runSafely);
  saeSel.addEventListener('change', () => { state.feature = undefined; runSafely(); });
  $('run').addEventListener('click', runSafely);
  text.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runSafely(); } });

  showLoading('Starting TensorFlow.js…');
  state.backend = await initBrowserBackend({ prefer, wasmPath: new URL(m.wasmPath, location.href).href });
  renderRuntime();
  await run();
}

boot().catch(fail);
