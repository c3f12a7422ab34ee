/**
 * saelab analysis: pure metric functions and mergeable accumulators for the transferability pipeline
 * (seed 001). Stages feed them batches; shards merge with `merge(other)`.
 */
export * from './stats';
export * from './sampling';
export * from './histogram';
export * from './similarity';
export * from './outliers';
export * from './saeMetrics';
export * from './transfer';
export * from './alignment';
export * as crosslayer from './crosslayer';
