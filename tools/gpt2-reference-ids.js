/**
 * Golden GPT-2 token ids from an independent encoder: the original JS port of GPT-2's encoder.py in
 * the npm package gpt-3-encoder@1.1.4 (its own regex + BPE loop over encoder.json / vocab.bpe).
 * Writes test/fixtures/gpt2-reference-ids.json, which test/tokenizers checks saelab's tokenizer against.
 *
 *   (cd /tmp && npm pack gpt-3-encoder@1.1.4 && tar xzf gpt-3-encoder-1.1.4.tgz)
 *   node tools/gpt2-reference-ids.js /tmp/package
 */
const fs = require('fs');
const path = require('path');
const pkg = process.argv[2];
if (!pkg) throw new Error('usage: node tools/gpt2-reference-ids.js <extracted gpt-3-encoder package dir>');
const { encode } = require(path.resolve(pkg, 'Encoder.js'));
const texts = [
  'Hello world',
  "Hello world, it's a tokenizer test.",
  'The quick brown fox jumps over the lazy dog.',
  '  two leading spaces and trailing   ',
  'Line one\nLine two\n\n\tTabbed',
  "I'm sure they'll say we've done what you'd expect, isn't it?",
  'Numbers: 1234567890 3.14159 -42 1e-5',
  'Unicode: café naïve résumé — “quotes” … 日本語 😀',
  'def f(x):\n    return x ** 2  # square',
  'Sparse autoencoders find interpretable features in the residual stream.',
  'Olá, como você está? Eu estou bem, obrigado.',
  'A',
  ' ',
  'https://huggingface.co/gpt2?x=1&y=2',
  'ALL CAPS AND MiXeD cAsE',
];
const out = texts.map((text) => ({ text, ids: encode(text) }));
const file = path.join(__dirname, '..', 'test', 'fixtures', 'gpt2-reference-ids.json');
fs.writeFileSync(file, `{"source": "gpt-3-encoder@1.1.4 Encoder.js encode()",\n"cases": [\n${out.map((c) => JSON.stringify(c)).join(',\n')}\n]}\n`);
console.log(`wrote ${file} (${out.length} cases)`);
