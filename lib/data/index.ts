export * from './random';
export * from './sources';
export * from './concat';
