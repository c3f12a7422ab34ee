import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { loadTokenizer } from '../../tokenizers';

const usage = `usage: saelab tokenize --tokenizer <name-or-dir> --text "<text>" [options]

Prints the token ids of the text as a JSON array, as the model's tokenizer encodes it.

  --tokenizer <name>   hub repo id (gpt2, org/name), a local folder with tokenizer.json, or a shipped name
  --revision <rev>     branch, tag or commit of the hub repo (default main)
  --text <text>        the text to encode
  --prepend-bos        TransformerLens prepend_bos: BOS, then the text's ids without other special tokens
  --str-tokens         print each token decoded on its own instead of ids`;

export const command: CliCommand = {
  name: 'tokenize',
  summary: 'print a text\'s token ids (JSON) for a tokenizer',
  usage,
  async run(argv) {
    const o = parseOptions(argv, {
      tokenizer: { type: 'string' }, revision: { type: 'string' }, text: { type: 'string' },
      'prepend-bos': { type: 'boolean' }, 'str-tokens': { type: 'boolean' },
    }, usage);
    const tok = await loadTokenizer(required(o.tokenizer, 'tokenizer', usage), { revision: o.revision });
    const text = required<string>(o.text, 'text', usage);
    const ids = o['prepend-bos'] ? tok.toIds(text, true) : tok.encode(text);
    console.log(JSON.stringify(o['str-tokens'] ? tok.toStrTokens(ids) : ids));
    return 0;
  },
};
