export * from './spec';
export * from './store';
export * from './context';
