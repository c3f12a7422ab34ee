export * from './display';
export * from './table';
export * from './progress';
export * from './stage';
export * from './activity';
export * from './interrupt';
