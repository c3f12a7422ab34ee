export * from './atomic';
export * from './dtypes';
export * from './safetensors';
export * from './pickle';
export * from './torch';
export * from './zip';
