import * as fs from 'fs';
import * as path from 'path';
import { resolveRepo, ResolveOptions } from '../hub/resolve';
import { SAELAB_ROOT } from '../version';
import { Tokenizer, tokenizerFromJson } from './tokenizerCore';

export * from './tokenizerCore';

/** Tokenizers shipped with saelab (data/tokenizers/<folder>), by the names users type. */
export const SHIPPED_TOKENIZERS: Record<string, string> = {
  gpt2: 'gpt2', 'openai-community/gpt2': 'gpt2', 'gpt2-small': 'gpt2',
};

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Load a tokenizer from a folder with tokenizer.json (+ tokenizer_config.json, special_tokens_map.json). */
export function loadTokenizerFromDir(dir: string): Tokenizer {
  const tjFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tjFile)) {
    const hasBpe = fs.existsSync(path.join(dir, 'vocab.json')) || fs.existsSync(path.join(dir, 'tokenizer.model'));
    throw new Error(`${dir} has no tokenizer.json${hasBpe ? ' (only slow-tokenizer files: convert with transformers\' AutoTokenizer(...).save_pretrained)' : ''}`);
  }
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const mapFile = path.join(dir, 'special_tokens_map.json');
  return tokenizerFromJson({
    source: tjFile,
    tokenizerJson: readJson(tjFile),
    tokenizerConfig: fs.existsSync(cfgFile) ? readJson(cfgFile) : undefined,
    specialTokensMap: fs.existsSync(mapFile) ? readJson(mapFile) : undefined,
  });
}

/**
 * Load a tokenizer by local folder, hub repo id (+ revision) or shipped name ('gpt2').
 * Order: local folder; the user's or the shipped hub cache; saelab's shipped tokenizers; a hub download.
 */
export async function loadTokenizer(nameOrDir: string, opts: Omit<ResolveOptions, 'files' | 'optionalFiles' | 'repoType'> = {}): Promise<Tokenizer> {
  if (fs.existsSync(nameOrDir) && fs.statSync(nameOrDir).isDirectory()) return loadTokenizerFromDir(nameOrDir);
  const files = { files: ['tokenizer.json'], optionalFiles: ['tokenizer_config.json', 'special_tokens_map.json'] };
  const shipped = SHIPPED_TOKENIZERS[nameOrDir];
  if (shipped && !opts.revision) {
    try {
      const cached = await resolveRepo(nameOrDir, { ...opts, ...files, offline: true });
      return loadTokenizerFromDir(cached.dir);
    } catch {
      return loadTokenizerFromDir(path.join(SAELAB_ROOT, 'data', 'tokenizers', shipped));
    }
  }
  const r = await resolveRepo(nameOrDir, { ...opts, ...files });
  return loadTokenizerFromDir(r.dir);
}
