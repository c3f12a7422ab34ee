/**
 * The browser build of lib (saelab in a web page): the parts of lib that need no Node (model, SAEs,
 * splicing, tokenizers, hub over fetch, safetensors from bytes) plus the browser's TensorFlow.js
 * backends. Bundle this entry with lib/explorer's bundler (it swaps each Node file-access module
 * for its `.browser.ts` twin).
 */
export * as tf from '@tensorflow/tfjs';
export { HookedTransformer, FromPretrainedOptions, TokenizerLike } from './model/hookedTransformer';
export { HookedTransformerConfig } from './model/config';
export { ForwardOptions, ForwardResult, HookFn, RunWithCacheOptions } from './model/types';
export { SAE } from './sae/sae';
export { SAEConfig } from './sae/config';
export { modelOptionsFromSAE, checkSAEFitsModel } from './sae/modelOptions';
export { resolveRelease, listReleases } from './sae/registry';
export { FeatureIntervention, SpliceOptions, spliceHooks, runWithSAE, runWithCacheAndSAE } from './sae/splice';
export { Tokenizer, loadTokenizer, tokenizerFromJson, tokenDisplayText } from './tokenizers/tokenizer';
export { configureHub } from './hub/env.browser';
export { hubFileUrl, joinUrl, fetchBytes, fetchJson } from './hub/http';
export { SafetensorsBuffer, SafetensorsReader, serializeSafetensors, rawToFloat32, rawToTensor } from './io/safetensorsCore';
export { BROWSER_BACKEND_ORDER, BrowserBackend, BrowserBackendInfo, initBrowserBackend, isBrowserBackend } from './backend/browser';
export { SAELAB_VERSION } from './version';
