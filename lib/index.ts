/**
 * saelab: sparse-autoencoder interpretability research in TypeScript.
 * The public API that notebooks and scripts import (`import * as saelab from '../dist/lib'`).
 * Each module owns its own index; this file only re-exports them.
 */
import * as tf from '@tensorflow/tfjs';
export { tf };
export * from './version';
export * from './config';
export * from './backend';
export * from './io';
export * from './hub';
export * from './tokenizers';
export * from './data';
export * from './model';
export * from './sae';
export * from './train';
export * from './analysis';
export * from './plots';
export * from './notebook';
export * from './optim';
export * from './pipeline';
export * from './lm';
export * from './tasks';
export * from './features';
export * from './stages';
export * from './demo/world';
export * from './circuits';
export * from './crosscoder';
export * as checkpoints from './checkpoints';
export * as standins from './standins';
export * as explorer from './explorer';
