/**
 * examples/express: the shop API over real HTTP on the dev server, and `npm run example:express -- --demo`
 * as a child process (test/helpers/shop-example.ts).
 */
import { describe } from 'vitest';
import { start } from '../../examples/express/app.js';
import { shopExampleSuite } from '../helpers/shop-example.js';

describe('examples/express', () => {
  shopExampleSuite({ name: 'express', start, main: 'examples/express/main.ts' });
});
