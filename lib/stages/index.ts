export * from './common';
export * from './alignment';
export * from './activations';
export * from './similarities';
export * from './outliers';
export * from './saeEval';
export * from './featureTransfer';
export * from './shard';
