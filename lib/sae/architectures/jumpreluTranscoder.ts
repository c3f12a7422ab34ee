/**
 * SAELens `jumprelu_transcoder`: a transcoder whose features fire as a JumpReLU, relu(pre) * [pre > threshold]
 * (Gemma Scope transcoders). Trained like a jumprelu SAE against the output hook.
 */
import { Architecture } from './types';
import { foldNorms, linear } from './ops';
import { jumpReluMask, jumpreluTraining, JUMPRELU_DEFAULTS, validateJumpRelu } from './jumprelu';
import { transcoderDefaults, transcoderExportConfig, transcoderInference, validateTranscoderTraining } from './transcoder';
import { scaledWeights } from './trainingParts';

export const jumpreluTranscoder: Architecture = {
  name: 'jumprelu_transcoder',
  summary: 'a transcoder with JumpReLU features (learned per-feature thresholds)',
  inference: {
    ...transcoderInference,
    weightShapes: (cfg) => ({ ...transcoderInference.weightShapes(cfg), threshold: [cfg.d_sae] }),
    encode: (_cfg, w, xIn) => jumpReluMask(linear(xIn, w.W_enc, w.b_enc), w.threshold),
    foldDecoderNorms: (_cfg, w) => foldNorms(w, ['b_enc', 'threshold']),
  },
  training: {
    ...jumpreluTraining,
    target: 'output',
    defaults: transcoderDefaults(JUMPRELU_DEFAULTS),
    validate(cfg, fail) {
      validateTranscoderTraining(cfg, fail);
      validateJumpRelu(cfg, fail);
    },
    export: (cfg, p) => ({ config: transcoderExportConfig(cfg), weights: scaledWeights(p, 1) }),
  },
};
