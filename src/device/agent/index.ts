export * from './agent.ts';
export * from './config.ts';
export * from './https-client.ts';
export * from './limits.ts';
export * from './schedule.ts';
export * from './select.ts';
export * from './staging.ts';
export * from './state.ts';
