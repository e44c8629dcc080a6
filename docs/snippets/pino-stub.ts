// Stands in for `import pino from 'pino'` so the docs type-check without the dependency.
const log = (obj: Record<string, unknown>, msg?: string): void => console.log(msg, obj);
export default { debug: log, info: log, warn: log, error: log };
