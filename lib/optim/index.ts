/** Optimisation shared by SAE training (lib/train) and language-model training (lib/lm): Adam(W) and gradient clipping. */
export * from './adam';
export * from './clip';
