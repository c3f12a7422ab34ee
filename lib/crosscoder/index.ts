/** Crosscoders: one dictionary over several models' activations, and model diffing with it. */
export * from './format';
export * from './crosscoder';
export * from './train';
export * from './diff';
export * from './synthetic';
export { latentDecoderNormSum, crosscoderExport } from '../sae/architectures/crosscoder';
export * from './settings';
