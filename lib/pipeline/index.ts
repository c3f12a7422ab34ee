export * from './notebooks';
export * from './run';
export * from './slurm';
export * from './compareRuns';
