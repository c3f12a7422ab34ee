export * from './env';
export * from './cache';
export * from './resolve';
export * from './checkpoint';
