/**
 * `saelab sva-data`: subject-verb agreement prompt pairs (feature-circuits' JSON-lines layout) for a
 * tokenizer's vocabulary.
 */
import { CliCommand } from '../types';
import { parseIntegerArg, parseOptions, required } from '../args';
import { loadTokenizer } from '../../tokenizers';
import { SvaTemplate, generateSvaPairs, svaPromptPairs, writeSvaJsonl } from '../../circuits/svaData';

const USAGE = `usage: saelab sva-data --tokenizer <name|dir> --out FILE.jsonl [--per-case 40] [--seed 0] [--templates simple,nounpp,rc]
                      [--verbs was:were,has:have]

Writes subject-verb agreement pairs {"clean_prefix", "patch_prefix", "clean_answer", "patch_answer", "case"}
from short templates, using only nouns and verbs whose forms are single tokens of the tokenizer
(so prefixes have equal length and answers are one token). Prints how many tokenize cleanly per prefix length.

options:
  --tokenizer T    a shipped name (gpt2), hub id or folder with tokenizer.json
  --out FILE       output .jsonl (written atomically)
  --per-case N     pairs per template and case (default 40)
  --seed S         sampling seed (default 0)
  --templates L    comma-separated subset of simple, nounpp, rc, pronoun (default simple,nounpp,rc;
                   pronoun: "{opener} he" / "{opener} they", for small vocabularies such as the demo world's)
  --verbs L        verb pairs singular:plural, comma-separated, without the leading space (default is:are,was:were,has:have,does:do)`;

export const command: CliCommand = {
  name: 'sva-data',
  summary: 'subject-verb agreement prompt pairs for a tokenizer (feature-circuits JSON lines)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, { tokenizer: { type: 'string' }, out: { type: 'string' }, 'per-case': { type: 'string' }, seed: { type: 'string' }, templates: { type: 'string' }, verbs: { type: 'string' } }, USAGE);
    const tok = await loadTokenizer(required<string>(o.tokenizer, 'tokenizer', USAGE));
    const out = required<string>(o.out, 'out', USAGE);
    const perCase = parseIntegerArg(o['per-case'], 'per-case', { min: 1, dflt: 40 });
    const seed = parseIntegerArg(o.seed, 'seed', { min: -(2 ** 31), dflt: 0 });
    const templates = o.templates === undefined ? undefined : (o.templates as string).split(',').map((s) => s.trim()) as SvaTemplate[];
    for (const t of templates ?? []) if (!['simple', 'nounpp', 'rc', 'pronoun'].includes(t)) throw new Error(`--templates: unknown template '${t}' (simple, nounpp, rc, pronoun)`);
    const verbs = o.verbs === undefined ? undefined : (o.verbs as string).split(',').map((pair): [string, string] => {
      const [s, p] = pair.trim().split(':');
      if (!s || !p) throw new Error(`--verbs: '${pair}' must be singular:plural (e.g. was:were)`);
      return [` ${s}`, ` ${p}`];
    });
    const records = generateSvaPairs(tok, { perCase, seed, templates, verbs });
    writeSvaJsonl(out, records);
    const { groups, skipped } = svaPromptPairs(records, tok, { prependBos: tok.bosTokenId !== undefined });
    console.log(`wrote ${out}: ${records.length} pairs; by prefix length: ${groups.map((g) => `${g.length} tokens x ${g.clean.length}`).join(', ')}${skipped ? `; ${skipped} do not tokenize cleanly` : ''}`);
    return 0;
  },
};
