/**
 * `saelab explorer` (npm run explorer:build): write the static feature-explorer site.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../types';
import { parseOptions } from '../args';
import { initBackend, describeBackend } from '../../backend';
import { SAELAB_ROOT } from '../../version';
import { DEMO_EXPLORER, buildExplorerSite } from '../../explorer/site';
import { serveStatic } from '../../explorer/serve';

const USAGE = `usage: saelab explorer [--out DIR] [--hub-url URL] [--model ID ...] [--sae release:id ...] [options]

Writes a static site (index.html, assets/, explorer.json, hub/, dashboards/) that runs the models
and SAEs in the browser. Serve the folder with any static file server, e.g.
  python3 -m http.server 8000 --directory explorer/dist   (then open http://localhost:8000/)

options:
  --out DIR            output folder (default explorer/dist; replaced atomically, and only if an
                       earlier explorer build wrote it)
  --model ID           a model to offer (repeatable; default saelab/demo-base and saelab/demo-finetune)
  --sae release:id     an SAE to offer (repeatable; default saelab-demo-res blocks.0-3.hook_resid_pre)
  --default-sae SPEC   the SAE shown first (default saelab-demo-res:blocks.2.hook_resid_pre)
  --text TEXT          the text shown first
  --hub-url URL        do not copy model and SAE files into the site: the page fetches them from this
                       hub or mirror base URL (the hub's layout: URL/<repo>/resolve/<revision>/<file>)
  --contexts N,M       dashboard sample: N English and M code contexts from saelab/demo-text (default 192,64)
  --examples K         top examples per feature (default 8)
  --effect-examples E  examples per feature the logit effects are measured at (default 2; 0 = none)
  --no-dashboards      no precomputed feature dashboards
  --no-minify          readable bundle (with a source map)
  --serve PORT         then serve the site on http://127.0.0.1:PORT/ until interrupted
  --serve-only         serve the existing --out folder without building (with --serve)`;

export const command: CliCommand = {
  name: 'explorer',
  summary: 'write the static feature-explorer site (the model and SAEs run in the browser)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      out: { type: 'string' }, model: { type: 'string', multiple: true }, sae: { type: 'string', multiple: true },
      'default-sae': { type: 'string' }, text: { type: 'string' }, 'hub-url': { type: 'string' }, contexts: { type: 'string' },
      examples: { type: 'string' }, 'effect-examples': { type: 'string' }, 'no-dashboards': { type: 'boolean' }, 'no-minify': { type: 'boolean' },
      serve: { type: 'string' }, 'serve-only': { type: 'boolean' },
    }, USAGE);
    const out = path.resolve(o.out ?? path.join(SAELAB_ROOT, 'explorer', 'dist'));
    const port = o.serve === undefined ? undefined : Number(o.serve);
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) throw new Error(`--serve takes a port number, got '${o.serve}'`);
    if (o['serve-only'] && port === undefined) throw new Error('--serve-only needs --serve PORT');
    if (o['serve-only']) return serve(out, port!);
    const int = (v: string | undefined, flag: string, def: number) => {
      if (v === undefined) return def;
      if (!/^\d+$/.test(v)) throw new Error(`--${flag} must be a non-negative integer, got '${v}'`);
      return Number(v);
    };
    const [english, code] = (o.contexts ?? '192,64').split(',').map((s: string) => int(s.trim(), 'contexts', 0));
    if (code === undefined) throw new Error(`--contexts takes N,M (English and code contexts), got '${o.contexts}'`);
    const texts = DEMO_EXPLORER.texts.map((t, i) => ({ ...t, contexts: i === 0 ? english : code })).filter((t) => t.contexts > 0);
    const models = (o.model as string[] | undefined)?.map((id) => DEMO_EXPLORER.models.find((m) => m.id === id) ?? { id, label: id }) ?? DEMO_EXPLORER.models;
    const saes = (o.sae as string[] | undefined) ?? DEMO_EXPLORER.saes;
    console.error(describeBackend(await initBackend()));
    const r = await buildExplorerSite({
      out, models, saes,
      defaultSae: o['default-sae'] ?? (saes.includes(DEMO_EXPLORER.defaultSae) ? DEMO_EXPLORER.defaultSae : saes[0]),
      defaultText: o.text ?? DEMO_EXPLORER.defaultText,
      hubUrl: o['hub-url'],
      dashboards: o['no-dashboards'] || !texts.length ? false : { texts, examples: int(o.examples, 'examples', 8), effectExamples: int(o['effect-examples'], 'effect-examples', 2) },
      minify: !o['no-minify'],
      onProgress: (line) => { if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`); },
    });
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    console.log(`wrote ${r.out}: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB (page bundle ${(r.bundleBytes / 1e6).toFixed(2)} MB) in ${r.seconds.toFixed(1)} s`);
    if (port !== undefined) return serve(out, port);
    const rel = path.relative(process.cwd(), r.out);
    const shown = rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? r.out : rel;
    const outFlag = o.out === undefined ? '' : ` --out ${shown}`;
    console.log(`serve it: saelab explorer --serve 8000 --serve-only${outFlag} (or any static server, e.g. python3 -m http.server 8000 --directory ${shown})`);
    return 0;
  },
};

/** Serve the site on loopback until SIGINT / SIGTERM. */
async function serve(dir: string, port: number): Promise<number> {
  if (!fs.existsSync(path.join(dir, 'explorer.json'))) throw new Error(`${dir} has no explorer.json: build the site first (npm run explorer:build)`);
  const server = await serveStatic(dir, { port });
  console.log(`serving ${dir} at ${server.url}/ (Ctrl+C stops)`);
  await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  await server.close();
  return 0;
}
