import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { initBackend } from '../../backend';
import { SAE } from '../../sae/sae';
import { decoderCosine, activationCosine, saeActivationCosine } from '../../checkpoints/similarity';
import { matchBySimilarity, saveMatching } from '../../checkpoints/match';
import { readRowsTensor } from '../../checkpoints/featureActs';
import { DenseMatrix } from '../../checkpoints/assignment';

const usage = `usage: saelab match-features --a <saeDirA> --b <saeDirB> --method decoder|activation --out <O.safetensors>
                             [--feature-acts-a <F> --feature-acts-b <F> [--tensor feature_acts]]
                             [--activations <F> [--act-tensor <name>]]

Matches the features of SAE A to those of SAE B one to one, maximising the total similarity
(Hungarian algorithm). Similarity is the cosine of decoder rows (--method decoder) or of feature
activation vectors on the same tokens (--method activation), taken either from two files of feature
activations [tokens, d_sae] (--feature-acts-a/-b, same tokens in the same order) or by encoding one
file of input activations [tokens, d_in] with both SAEs (--activations).

Writes <O.safetensors>: assignment int32 [d_sae_a] (partner in B, -1 when A is larger and the feature
is unmatched), similarity float32 [d_sae_a] (the matched pair's cosine, NaN when unmatched),
unmatched_b int32 [k] (B features without partner), metadata method / d_sae_a / d_sae_b / mean_similarity.`;

export const command: CliCommand = {
  name: 'match-features',
  summary: 'optimal one-to-one feature matching between two SAEs (decoder or activation cosine)',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      a: { type: 'string' },
      b: { type: 'string' },
      method: { type: 'string' },
      out: { type: 'string' },
      'feature-acts-a': { type: 'string' },
      'feature-acts-b': { type: 'string' },
      tensor: { type: 'string' },
      activations: { type: 'string' },
      'act-tensor': { type: 'string' },
      quiet: { type: 'boolean' },
    }, usage);
    const dirA = required(o.a as string | undefined, 'a', usage);
    const dirB = required(o.b as string | undefined, 'b', usage);
    const method = required(o.method as string | undefined, 'method', usage);
    const out = required(o.out as string | undefined, 'out', usage);
    if (method !== 'decoder' && method !== 'activation') throw new Error(`--method must be decoder or activation, got '${method}'\n\n${usage}`);
    await initBackend();
    const a = await SAE.load(dirA);
    const b = await SAE.load(dirB);
    try {
      let sim: DenseMatrix;
      let source = '';
      if (method === 'decoder') {
        sim = decoderCosine(a, b);
      } else if (o['feature-acts-a'] || o['feature-acts-b']) {
        const fileA = required(o['feature-acts-a'] as string | undefined, 'feature-acts-a', usage);
        const fileB = required(o['feature-acts-b'] as string | undefined, 'feature-acts-b', usage);
        const name = (o.tensor as string | undefined) ?? 'feature_acts';
        const fa = readRowsTensor(fileA, name, a.cfg.d_sae, `feature activations of SAE A (d_sae ${a.cfg.d_sae})`);
        const fb = readRowsTensor(fileB, name, b.cfg.d_sae, `feature activations of SAE B (d_sae ${b.cfg.d_sae})`);
        try {
          if (fa.shape[0] !== fb.shape[0]) throw new Error(`${fileA} has ${fa.shape[0]} tokens but ${fileB} has ${fb.shape[0]}; activation matching needs the same tokens`);
          sim = activationCosine(fa, fb);
          source = `${path.basename(fileA)} / ${path.basename(fileB)}, ${fa.shape[0]} tokens`;
        } finally {
          tf.dispose([fa, fb]);
        }
      } else {
        const file = required(o.activations as string | undefined, 'activations (or --feature-acts-a/-b)', usage);
        const x = readRowsTensor(file, (o['act-tensor'] as string | undefined) ?? 'activations', a.cfg.d_in, `input activations (d_in ${a.cfg.d_in})`);
        try {
          sim = saeActivationCosine(a, b, x);
          source = `${path.basename(file)}, ${x.shape[0]} tokens`;
        } finally {
          x.dispose();
        }
      }
      const m = matchBySimilarity(sim, method);
      saveMatching(out, m, { a: path.resolve(dirA), b: path.resolve(dirB), ...(source ? { tokens: source } : {}) });
      if (!o.quiet) {
        console.log(`matched ${Math.min(m.dA, m.dB)} of ${m.dA} A features to ${m.dB} B features by ${method} cosine: mean similarity ${m.meanSimilarity.toFixed(4)}` +
          `${m.unmatchedA.length ? `, ${m.unmatchedA.length} A features unmatched` : ''}${m.unmatchedB.length ? `, ${m.unmatchedB.length} B features unmatched` : ''}; wrote ${out}`);
      }
      return 0;
    } finally {
      a.dispose();
      b.dispose();
    }
  },
};
