export * from './interpbench';
