export * from './topExamples';
export * from './browser';
