export * from './display';
export * from './table';
export * from './progress';
export * from './schema';
export * from './config';
export * from './stage';
export * from './interrupt';
