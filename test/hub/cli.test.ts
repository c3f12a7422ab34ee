import { test } from 'node:test';
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir, REPO_ROOT } from '../helpers';

const MAIN = path.join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js');
function saelab(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: tmpDir(), ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('saelab tokenize prints the ids as a JSON array (and only that on stdout)', () => {
  const r = saelab(['tokenize', '--tokenizer', 'gpt2', '--text', 'Hello world']);
  assert.strictEqual(r.code, 0, r.stderr);
  assert.strictEqual(r.stdout, '[15496,995]\n');
  const bos = saelab(['tokenize', '--tokenizer', 'gpt2', '--text', 'Hello world', '--prepend-bos']);
  assert.strictEqual(bos.stdout, '[50256,15496,995]\n');
  const missing = saelab(['tokenize', '--text', 'x']);
  assert.strictEqual(missing.code, 1);
  assert.match(missing.stderr, /missing required option --tokenizer/);
});

test('saelab compare-tokenizers prints the table and writes csv/log/json', () => {
  const dir = tmpDir();
  const mk = (name: string, vocab: Record<string, number>) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' },
      post_processor: null, decoder: null, model: { type: 'WordLevel', vocab, unk_token: '<unk>' } }));
    return d;
  };
  const a = mk('a', { '<unk>': 0, x: 1, y: 2, z: 3 });
  const b = mk('b', { '<unk>': 0, x: 2, y: 1, w: 3 });
  const r = saelab(['compare-tokenizers', '--base', a, '--finetune', b, '--out', path.join(dir, 'cmp')]);
  assert.strictEqual(r.code, 0, r.stderr);
  // base: 4 tokens, only z; ft: only w; x and y swapped ids -> mismatched 2; good = 4 - 1 - 2 = 1 (25%)
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /tokenizer\s+vocab_size\s+only_in\s+mismatched\s+good\s+good_pct/);
  assert.match(lines[2], /\/a\s+4\s+1\s+2\s+1\s+25$/);
  assert.match(lines[3], /\/b\s+4\s+1\s+2\s+1\s+25$/);
  assert.strictEqual(fs.readFileSync(path.join(dir, 'cmp.csv'), 'utf8').split('\n')[1], `${a},4,1,2,1,25`);
});
