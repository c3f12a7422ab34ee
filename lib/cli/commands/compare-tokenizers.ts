import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { loadTokenizer, compareTokenizers, formatComparison, writeTokenizerComparison } from '../../tokenizers';

const usage = `usage: saelab compare-tokenizers --base <name-or-dir> --finetune <name-or-dir> [options]

Compares two tokenizers' vocabularies (token string -> id): tokens only in the base, only in the
finetune, shared strings with different ids, and the share of "good" tokens (same string, same id).

  --base <name>            base model's tokenizer: hub repo id, local folder or shipped name (gpt2)
  --finetune <name>        finetuned model's tokenizer
  --base-revision <rev>    revision of the base repo (default main)
  --finetune-revision <r>  revision of the finetune repo (default main)
  --out <prefix>           also write <prefix>.csv, <prefix>.log and <prefix>.json`;

export const command: CliCommand = {
  name: 'compare-tokenizers',
  summary: 'compare a base and a finetuned tokenizer\'s vocabularies',
  usage,
  async run(argv) {
    const o = parseOptions(argv, {
      base: { type: 'string' }, finetune: { type: 'string' }, 'base-revision': { type: 'string' },
      'finetune-revision': { type: 'string' }, out: { type: 'string' },
    }, usage);
    const baseName = required<string>(o.base, 'base', usage);
    const ftName = required<string>(o.finetune, 'finetune', usage);
    const base = await loadTokenizer(baseName, { revision: o['base-revision'] });
    const ft = await loadTokenizer(ftName, { revision: o['finetune-revision'] });
    const c = compareTokenizers(base, ft);
    const names = { base: baseName, finetune: ftName };
    process.stdout.write(formatComparison(c, names));
    if (o.out) for (const f of writeTokenizerComparison(o.out, c, names)) console.error(`wrote ${f}`);
    return 0;
  },
};
