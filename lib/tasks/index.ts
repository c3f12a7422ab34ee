export * from './interpbench';
export * from './trainCase3';
export * from './case3Sae';
