export * from './interpbench';
export * from './trainCase3';
