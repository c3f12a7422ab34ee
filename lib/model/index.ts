export * from './types';
export * from './config';
export { ActivationCache } from './cache';
export { HookedTransformer, FromPretrainedOptions, TokenizerLike, optionsFromPretrainedKwargs } from './hookedTransformer';
export { resolveModelDir, officialModelName, openCheckpoint, readHfConfig, ResolvedModel } from './loading';
export { StateDict, paramShapes } from './params';
export { ProcessingOptions, DEFAULT_PROCESSING, NO_PROCESSING, processWeights } from './processing';
export { hfConfigToTl, SUPPORTED_MODEL_TYPES } from './hf';
export { configFromTransformerLensDict, readTransformerLensConfigPickle, readTransformerLensTorchDir, isTransformerLensTorchDir, TL_CHECKPOINT_WEIGHTS, TL_CHECKPOINT_CONFIG, saveTransformerLensTorchDir, transformerLensConfigDict } from './interpbench';
