export * from './notebooks';
export * from './run';
