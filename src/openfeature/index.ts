/**
 * `consul-hotreload/openfeature`: an OpenFeature server provider for flagd flag definitions kept in Consul KV.
 * Needs the optional peer dependency `@openfeature/server-sdk`; the main entry never loads it.
 * @module
 */

export type { ConsulFlagProviderOptions, FlagSource } from './provider.js';
export { ConsulFlagProvider } from './provider.js';
