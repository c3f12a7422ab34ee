export * from './adamw';
export * from './batches';
export * from './trainer';
