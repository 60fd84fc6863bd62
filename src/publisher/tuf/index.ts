export * from './check-repository.ts';
export * from './expiry.ts';
export * from './keys.ts';
export * from './metadata.ts';
export * from './publish.ts';
export * from './signing.ts';
