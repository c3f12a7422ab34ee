export * from './spec';
export * from './store';
export * from './accumulators';
export * from './stages';
export * from './context';
