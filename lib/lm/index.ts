export * from './batches';
export * from './trainer';
