export * from './common';
export * from './ablation';
export * from './load';
export * from './attribution';
