export * from './manifest';
export * from './compute';
export * from './dashboard';
export * from './site';
export * from './serve';
