/** SAEs across model training checkpoints: sweeps, optimal feature matching, feature chains over training. */
export * from './assignment';
export * from './similarity';
export * from './match';
export * from './featureActs';
export * from './chains';
export * from './chainReport';
export * from './sweep';
export * from './sweepReport';
export * from './sweepChains';
export * from './modelProvider';
export * from './config';
export * from './circuitsOverTime';
export * from './contrastPairs';
