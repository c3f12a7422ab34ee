/**
 * SAELens `skip_transcoder`: a transcoder plus a linear skip connection from the raw input,
 * f(x) = relu(x W_enc + b_enc) W_dec + b_dec + x W_skip^T, W_skip [d_out, d_in] (zeros at initialisation).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture } from './types';
import { transcoderInference, transcoderTraining } from './transcoder';

export const skipTranscoder: Architecture = {
  name: 'skip_transcoder',
  summary: 'a transcoder plus a learned linear skip connection x W_skip^T from its input',
  inference: {
    ...transcoderInference,
    weightShapes: (cfg) => ({ ...transcoderInference.weightShapes(cfg), W_skip: [cfg.d_out as number, cfg.d_in] }),
    skip: (_cfg, w, x) => tf.matMul(x, w.W_skip as tf.Tensor2D, false, true) as tf.Tensor2D,
  },
  training: {
    ...transcoderTraining,
    initParams: (cfg, init) => ({ ...transcoderTraining.initParams(cfg, init), W_skip: tf.zeros([init.W_dec.shape[1], init.W_enc.shape[0]]) }),
  },
};
