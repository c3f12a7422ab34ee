/** SAE training: activation sources and store, SAELens-style trainer, checkpoints, synthetic ground truth. */
export * from './config';
export * from './schedules';
export * from './geometric-median';
export * from './params';
export * from './activations';
export * from './losses';
export * from './sources';
export * from './store';
export * from './synthetic';
export * from './export';
export * from './progress';
export * from './plots';
export * from './trainer';
export * from './model-source';
