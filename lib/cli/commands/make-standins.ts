import * as path from 'path';
import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { makeStandins } from '../../standins';

const usage = `usage: saelab make-standins --like <family|preset|config.json> --hub-cache DIR [options]

Writes stand-ins of the hub repos a preset names into DIR in the Hugging Face cache layout: the model
repos at every revision the preset uses (the hub's config.json, safetensors in the hub's dtype and
sharding, tokenizer files with the real vocabulary sizes), the SAE folders at the published widths and
the datasets, with seeded random contents. Then run the unchanged preset offline:

  HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1 npm run pipeline -- --config configs/<preset>.json

  --like <name>            gpt2 (gpt2-small), pythia-70m-deduped, gemma-2b, mistral-7b (all presets of
                           that family), a preset name (gpt2-portuguese, ...) or a config file
  --hub-cache <dir>        the cache folder to fill (a repo there that saelab did not make is never touched)
  --scale <full|tiny>      full: the published shapes (default); tiny: the same architectures at width 64
  --seed <n>               seed of all contents (default 0)
  --dataset-words <n>      words of text per dataset instead of what the configs' stages draw (~1.3 tokens a word)
  --dry-run                print what would be written (sizes) and stop

Repos already complete are kept; an interrupted run resumes. Mistral-7B is ~14.5 GB per model.`;

export const command: CliCommand = {
  name: 'make-standins',
  summary: 'write stand-ins of a preset\'s hub repos (published shapes, random weights) into a hub cache folder',
  usage,
  async run(argv) {
    const o = parseOptions(argv, {
      like: { type: 'string' }, 'hub-cache': { type: 'string' }, scale: { type: 'string' }, seed: { type: 'string' },
      'dataset-words': { type: 'string' }, 'dry-run': { type: 'boolean' },
    }, usage);
    const scale = (o.scale ?? 'full') as string;
    if (scale !== 'full' && scale !== 'tiny') throw new Error(`--scale must be full or tiny, got '${scale}'\n\n${usage}`);
    const seed = o.seed === undefined ? 0 : Number(o.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got '${o.seed}'`);
    const tokens = o['dataset-words'] === undefined ? undefined : Number(o['dataset-words']);
    if (tokens !== undefined && !(Number.isInteger(tokens) && tokens > 0)) throw new Error(`--dataset-words must be a positive integer, got '${o['dataset-words']}'`);
    await makeStandins({
      like: required(o.like, 'like', usage), cacheRoot: path.resolve(required(o['hub-cache'], 'hub-cache', usage)),
      scale, seed, datasetWords: tokens, dryRun: !!o['dry-run'],
    });
    return 0;
  },
};
