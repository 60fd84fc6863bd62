export * from './certificate-files.ts';
export * from './server.ts';
