/**
 * `npm run explorer:build`: the static explorer site. Writes, atomically, a folder any static file
 * server can serve: index.html + assets (the page bundled with lib for the browser, tfjs's .wasm
 * files), explorer.json (the manifest), the models' and SAEs' files in the hub's URL layout under
 * hub/ (or nothing, when the page is to fetch them from a hub or mirror URL; models given as local
 * folders are copied under models/), and one feature dashboard JSON per (model, SAE).
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeDirAtomic } from '../io/atomic';
import { resolveRepo } from '../hub/resolve';
import { officialModelName } from '../model/names';
import { FromPretrainedOptions, HookedTransformer } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { resolveRelease } from '../sae/registry';
import { modelOptionsFromSAE, checkSAEFitsModel } from '../sae/modelOptions';
import { SAELAB_ROOT, SAELAB_VERSION } from '../version';
import { bundleForBrowser } from './bundle';
import { DashboardOptions, DashboardText, featureDashboards } from './dashboard';
import { ExplorerManifest, ExplorerModel, dashboardKey, parseSAESpec } from './manifest';

/** The demo world's explorer: both demo models, the residual SAEs of every layer, English and code text. */
export const DEMO_EXPLORER = {
  models: [
    { id: 'saelab/demo-base', label: 'demo base (English prose)' },
    { id: 'saelab/demo-finetune', label: 'demo finetune (JavaScript code)' },
  ] as ExplorerModel[],
  saes: [0, 1, 2, 3].map((l) => `saelab-demo-res:blocks.${l}.hook_resid_pre`),
  defaultSae: 'saelab-demo-res:blocks.2.hook_resid_pre',
  defaultText: 'The old man walked to the market and bought some bread for his family.',
  texts: [
    { dataset: 'saelab/demo-text', split: 'validation', contexts: 192, label: 'English prose (demo-text validation)' },
    { dataset: 'saelab/demo-text', dataFiles: ['code_eval.jsonl'], contexts: 64, label: 'JavaScript code (demo-text code_eval)' },
  ] as DashboardText[],
};

export interface ExplorerSiteOptions {
  /** output folder (replaced atomically; refused when it exists and was not written by this builder) */
  out: string;
  models: ExplorerModel[];
  /** release:saeId */
  saes: string[];
  defaultModel?: string;
  defaultSae?: string;
  defaultText: string;
  /** the page fetches models and SAEs from this hub (or mirror) base URL instead of files copied into the site */
  hubUrl?: string;
  /** feature dashboards: the sample and settings, or false for none */
  dashboards: Omit<DashboardOptions, 'onProgress'> | false;
  /** minify the bundle (default true) */
  minify?: boolean;
  onProgress?: (line: string) => void;
}

export interface ExplorerSiteResult {
  out: string;
  files: number;
  bytes: number;
  bundleBytes: number;
  /** Node file-access modules replaced by their browser twins in the bundle */
  twins: string[];
  seconds: number;
}

/** Files of the page itself (explorer/src) copied as they are. */
const STATIC_FILES = ['index.html', 'style.css'];
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const MODEL_FILES = ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const SAE_FILES = ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors'];

/** A file name made of the id's safe characters (dashboards/<model>/<sae>.json). */
function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** The id the page loads a model by: its hub id, or for a local folder the URL of its copy in the site (./models/<name>). */
function pageModelId(id: string): string {
  return fs.existsSync(id) && fs.statSync(id).isDirectory() ? `./models/${slug(path.basename(path.resolve(id)))}` : id;
}

function copyInto(srcDir: string, names: string[], destDir: string): number {
  let bytes = 0;
  for (const n of names) {
    const src = path.join(srcDir, n);
    if (!fs.existsSync(src)) continue;
    const dest = path.join(destDir, n);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(src, dest);
    bytes += fs.statSync(dest).size;
  }
  return bytes;
}

/** Refuse to replace a folder this builder did not write (never remove a user's files). */
function checkOutFolder(out: string): void {
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new Error(`explorer output ${out} exists and is not a folder; choose another --out`);
  const entries = fs.readdirSync(out);
  if (!entries.length) return;
  const manifest = path.join(out, 'explorer.json');
  let ours = false;
  try {
    ours = JSON.parse(fs.readFileSync(manifest, 'utf8')).generator === 'saelab explorer';
  } catch { /* not ours */ }
  if (!ours) throw new Error(`explorer output ${out} exists and was not written by saelab's explorer build (no explorer.json from it); it is left untouched: choose an empty or new folder with --out`);
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** Build the static explorer site (see the module comment). */
export async function buildExplorerSite(opts: ExplorerSiteOptions): Promise<ExplorerSiteResult> {
  const t0 = Date.now();
  const log = opts.onProgress ?? (() => undefined);
  const out = path.resolve(opts.out);
  checkOutFolder(out);
  if (!opts.models.length || !opts.saes.length) throw new Error('the explorer needs at least one model and one SAE');
  const defaultModel = opts.defaultModel ?? opts.models[0].id;
  const defaultSae = opts.defaultSae ?? opts.saes[0];
  if (!opts.models.some((m) => m.id === defaultModel)) throw new Error(`default model ${defaultModel} is not among the models (${opts.models.map((m) => m.id).join(', ')})`);
  if (!opts.saes.includes(defaultSae)) throw new Error(`default SAE ${defaultSae} is not among the SAEs (${opts.saes.join(', ')})`);
  const srcDir = path.join(SAELAB_ROOT, 'explorer', 'src');
  let bundleBytes = 0;
  let twins: string[] = [];
  await writeDirAtomic(out, async (tmp) => {
    // the page: lib + explorer/src bundled for browsers, its static files, tfjs's wasm binaries
    log('bundling the page for browsers (esbuild)');
    const bundle = await bundleForBrowser({ entry: path.join(srcDir, 'main.ts'), outfile: path.join(tmp, 'assets', 'explorer.js'), minify: opts.minify ?? true });
    bundleBytes = bundle.bytes;
    twins = bundle.twins;
    copyInto(srcDir, STATIC_FILES, tmp);
    copyInto(path.join(SAELAB_ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist'), WASM_FILES, path.join(tmp, 'assets'));
    for (const w of WASM_FILES) if (!fs.existsSync(path.join(tmp, 'assets', w))) throw new Error(`@tensorflow/tfjs-backend-wasm has no dist/${w}: run npm ci`);

    // SAEs: load each (Node), check it fits its model, copy its folder into the hub layout
    const saes = new Map<string, SAE>();
    try {
      for (const spec of opts.saes) {
        const { release, saeId } = parseSAESpec(spec);
        saes.set(spec, await SAE.fromPretrained(release, saeId));
        if (!opts.hubUrl) {
          const r = resolveRelease(release, saeId);
          const rel = SAE_FILES.map((f) => (r.folder ? `${r.folder}/${f}` : f));
          const { dir } = await resolveRepo(r.repoId, { revision: r.revision, files: rel.slice(0, 2), optionalFiles: rel.slice(2) });
          copyInto(dir, rel, path.join(tmp, 'hub', r.repoId, 'resolve', encodeURIComponent(r.revision ?? 'main')));
        }
      }
      // models: copy the files a browser fetches (hub layout; a local folder under models/); dashboards per (model, SAEs loaded alike)
      const dashboards: Record<string, string> = {};
      for (const m of opts.models) {
        const pageId = pageModelId(m.id);
        const local = pageId !== m.id;
        if (local || !opts.hubUrl) {
          const dir = local ? path.resolve(m.id) : (await resolveRepo(officialModelName(m.id), { revision: m.revision, files: ['config.json'], optionalFiles: MODEL_FILES.slice(1) })).dir;
          const dest = local ? path.join(tmp, pageId) : path.join(tmp, 'hub', officialModelName(m.id), 'resolve', encodeURIComponent(m.revision ?? 'main'));
          copyInto(dir, MODEL_FILES, dest);
          const index = path.join(dir, 'model.safetensors.index.json');
          if (fs.existsSync(index)) copyInto(dir, [...new Set(Object.values(JSON.parse(fs.readFileSync(index, 'utf8')).weight_map as Record<string, string>))], dest);
        }
        if (opts.dashboards === false) continue;
        // SAEs whose metadata asks for the same model processing share one model load
        const groups = new Map<string, Array<{ spec: string; sae: SAE }>>();
        for (const [spec, sae] of saes) {
          const o = modelOptionsFromSAE(sae, m.revision ? { revision: m.revision } : {}, { emit: false }).options;
          const key = JSON.stringify(o);
          if (!groups.has(key)) groups.set(key, []);
          groups.get(key)!.push({ spec, sae });
        }
        for (const [key, group] of groups) {
          const model = await HookedTransformer.fromPretrained(m.id, JSON.parse(key) as FromPretrainedOptions);
          try {
            for (const g of group) checkSAEFitsModel(g.sae, model);
            const jsons = await featureDashboards(model, m.id, group, { ...opts.dashboards, onProgress: log });
            for (const j of jsons) {
              const rel = `dashboards/${slug(m.id)}/${slug(j.sae)}.json`;
              fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
              fs.writeFileSync(path.join(tmp, rel), JSON.stringify(j));
              dashboards[dashboardKey(pageId, j.sae)] = rel;
            }
          } finally {
            model.dispose();
          }
        }
      }
      const manifest: ExplorerManifest = {
        generator: 'saelab explorer', saelabVersion: SAELAB_VERSION, hub: opts.hubUrl ?? 'hub', wasmPath: 'assets/',
        models: opts.models.map((m) => ({ ...m, id: pageModelId(m.id) })),
        saes: opts.saes.map((spec) => ({ spec, label: saes.get(spec)!.cfg.metadata.hook_name, hook: saes.get(spec)!.cfg.metadata.hook_name })),
        defaults: { model: pageModelId(defaultModel), sae: defaultSae, text: opts.defaultText },
        dashboards,
      };
      fs.writeFileSync(path.join(tmp, 'explorer.json'), JSON.stringify(manifest, null, 2) + '\n');
    } finally {
      for (const s of saes.values()) s.dispose();
    }
  });
  const files = walk(out);
  const bytes = files.reduce((a, f) => a + fs.statSync(f).size, 0);
  return { out, files: files.length, bytes, bundleBytes, twins, seconds: (Date.now() - t0) / 1000 };
}
