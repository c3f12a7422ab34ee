/**
 * Subject-verb agreement data: single-token filtering on a toy word-level tokenizer, the GPT-2
 * tokenizer's records tokenizing into equal-length pairs that differ in the subject only, JSON lines round trip.
 */
import { test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import { generateSvaPairs, svaPromptPairs, svaVocabulary, readSvaJsonl, writeSvaJsonl, SvaTokenizer } from '../../lib/circuits';
import { loadTokenizerFromDir } from '../../lib/tokenizers';
import { tmpDir, REPO_ROOT } from '../helpers';

/** Word-level toy tokenizer: known " word" pieces are one token, anything else one token per character. */
function toyTokenizer(words: string[]): SvaTokenizer {
  const vocab = new Map<string, number>([['<bos>', 0]]);
  for (const w of words) vocab.set(w, vocab.size);
  const id = (s: string) => { if (!vocab.has(s)) vocab.set(s, vocab.size); return vocab.get(s)!; };
  return {
    bosTokenId: 0,
    encodeRaw(text: string) {
      const out: number[] = [];
      for (const piece of text.match(/ ?[^ ]+/g) ?? []) {
        if (vocab.has(piece) || piece === 'The') out.push(id(piece));
        else for (const ch of piece) out.push(id(`#${ch}`));
      }
      return out;
    },
  };
}

test('only nouns and verbs whose forms are single tokens are used; prefixes equal length, answers one token', () => {
  const tok = toyTokenizer([' man', ' men', ' dog', ' dogs', ' child', ' house', ' houses', ' is', ' are', ' was', ' near', ' the', ' that', ' liked']);
  const v = svaVocabulary(tok);
  assert.deepStrictEqual(v.nouns, [['man', 'men'], ['dog', 'dogs'], ['house', 'houses']]); // child/children: plural not one token
  assert.deepStrictEqual(v.verbs, [[' is', ' are']]); // ' were' is not a token
  const recs = generateSvaPairs(tok, { perCase: 3, seed: 5 });
  assert.ok(recs.length >= 20);
  const cases = new Set(recs.map((r) => r.case));
  for (const c of ['simple:singular', 'simple:plural', 'nounpp:singular_plural', 'rc:plural_singular']) assert.ok(cases.has(c), `case ${c}`);
  for (const r of recs) {
    const plural = r.case.split(':')[1].startsWith('plural');
    assert.strictEqual(r.clean_answer, plural ? ' are' : ' is');
    assert.strictEqual(r.patch_answer, plural ? ' is' : ' are');
  }
  const { groups, skipped } = svaPromptPairs(recs, tok);
  assert.strictEqual(skipped, 0);
  // BOS + 'The N' = 3; BOS + 'The N near the M' = 6; BOS + 'The N that the M liked' = 7
  assert.deepStrictEqual(groups.map((g) => g.length).sort(), [3, 6, 7]);
  for (const g of groups) {
    g.clean.forEach((c, i) => {
      assert.strictEqual(c[0], 0, 'BOS first');
      assert.strictEqual(c.length, g.patch[i].length);
      assert.strictEqual(c.filter((x, t) => x !== g.patch[i][t]).length, 1, 'clean and patch differ in the subject only');
    });
  }
  assert.throws(() => generateSvaPairs(toyTokenizer([' is', ' are'])), /too few single-token words/);
});

test('GPT-2 tokenizer: every record tokenizes cleanly; JSON lines round trip; the shipped GPT-2 set loads', () => {
  const tok = loadTokenizerFromDir(path.join(REPO_ROOT, 'data', 'tokenizers', 'gpt2'));
  const recs = generateSvaPairs(tok, { perCase: 4, seed: 1 });
  const { groups, skipped } = svaPromptPairs(recs, tok, { prependBos: true });
  assert.strictEqual(skipped, 0);
  assert.strictEqual(groups.reduce((s, g) => s + g.clean.length, 0), recs.length);
  const is = tok.encodeRaw(' is')[0];
  const are = tok.encodeRaw(' are')[0];
  for (const g of groups) g.records.forEach((r, i) => {
    if (r.clean_answer === ' is') assert.deepStrictEqual([g.cleanAnswers[i], g.patchAnswers[i]], [is, are]);
    assert.strictEqual(tok.decode(g.clean[i].slice(1)), r.clean_prefix);
  });
  const file = path.join(tmpDir(), 'sva.jsonl');
  writeSvaJsonl(file, recs);
  assert.deepStrictEqual(readSvaJsonl(file), recs);
  const shipped = readSvaJsonl(path.join(REPO_ROOT, 'data', 'circuits', 'sva_gpt2.jsonl'));
  assert.strictEqual(svaPromptPairs(shipped, tok).skipped, 0);
  assert.ok(shipped.length >= 100);
});

test('pronoun template: "{opener} he/she" vs "{opener} they", the verb agreeing with the clean pronoun', () => {
  const tok = toyTokenizer(['Then', 'So', ' he', ' she', ' they', ' was', ' were', ' has', ' have', ' is']); // ' are' missing: is/are dropped
  const recs = generateSvaPairs(tok, { templates: ['pronoun'], openers: ['Then', 'So'], perCase: 100, seed: 2 });
  // 2 openers x 2 pronoun pairs x 2 verb pairs per case, deduplicated
  assert.strictEqual(recs.length, 16);
  for (const r of recs) {
    const plural = r.case === 'pronoun:plural';
    assert.match(r.clean_prefix, plural ? /^(Then|So) they$/ : /^(Then|So) (he|she)$/);
    assert.strictEqual(r.patch_prefix.split(' ')[0], r.clean_prefix.split(' ')[0], 'same opener');
    assert.match(r.patch_prefix, plural ? / (he|she)$/ : / they$/);
    assert.ok(plural ? [' were', ' have'].includes(r.clean_answer) : [' was', ' has'].includes(r.clean_answer));
    assert.strictEqual(r.patch_answer, { ' was': ' were', ' has': ' have', ' were': ' was', ' have': ' has' }[r.clean_answer]);
  }
  const { groups, skipped } = svaPromptPairs(recs, tok);
  assert.strictEqual(skipped, 0);
  assert.strictEqual(groups.length, 1);
  assert.throws(() => generateSvaPairs(toyTokenizer([' was', ' were']), { templates: ['pronoun'] }), /too few single-token words for pronoun agreement pairs/);
});

test('the shipped demo pairs tokenize cleanly for the demo world', async () => {
  const { loadTokenizer } = await import('../../lib/tokenizers');
  const tok = await loadTokenizer('saelab/demo-base');
  const recs = readSvaJsonl(path.join(REPO_ROOT, 'data', 'circuits', 'sva_demo.jsonl'));
  const { groups, skipped } = svaPromptPairs(recs, tok);
  assert.strictEqual(skipped, 0);
  assert.ok(groups[0].clean.length >= 40, `largest equal-length group ${groups[0].clean.length} >= the demo's 40 examples`);
});
