import { startDevServer } from '../src/devserver/server.js';
import { benchSeed } from './lib/keys.js';
const server = await startDevServer({ seed: benchSeed('heap/', 10000), port: 18555 });
console.log(server.address);
setInterval(() => {}, 1000);
