/**
 * Tokenizers in a browser (tokenizer.ts in Node reads folders and the hub cache): tokenizer.json,
 * tokenizer_config.json and special_tokens_map.json fetched from a folder URL or a hub repo.
 */
import type * as NodeTokenizer from './tokenizer';
import { fetchJson, joinUrl } from '../hub/http';
import { hubToken } from '../hub/env';
import { resolveRepo } from '../hub/resolve';
import { tokenizerFromJson } from './tokenizerCore';

export * from './tokenizerCore';

export const loadTokenizer: typeof NodeTokenizer.loadTokenizer = async (nameOrDir, opts = {}) => {
  const token = hubToken();
  const { dir } = await resolveRepo(nameOrDir, { revision: opts.revision, endpoint: opts.endpoint });
  const [tokenizerJson, tokenizerConfig, specialTokensMap] = await Promise.all([
    fetchJson(joinUrl(dir, 'tokenizer.json'), { token }),
    fetchJson(joinUrl(dir, 'tokenizer_config.json'), { token, optional: true }),
    fetchJson(joinUrl(dir, 'special_tokens_map.json'), { token, optional: true }),
  ]);
  return tokenizerFromJson({ source: joinUrl(dir, 'tokenizer.json'), tokenizerJson, tokenizerConfig, specialTokensMap });
};
