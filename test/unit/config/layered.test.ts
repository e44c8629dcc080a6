/**
 * defineLayeredConfig's options: the layers built as Spring Cloud Consul builds its property sources
 * (docs/config.md, "Layered config"), and bad options refused at the call.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineLayeredConfig, resolveLayers } from '../../../src/config/layered.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Watcher } from '../../../src/watch/watcher.js';

// Never used for a request: bad options are refused before any watch starts.
const watcher = new Watcher({ env: {} });
afterAll(() => watcher.close());

describe('resolveLayers', () => {
  it('orders an app and a profile as Spring does, lowest precedence first', () => {
    expect(resolveLayers({ app: 'testApp', profiles: ['dev'] })).toEqual([
      'config/application/',
      'config/application,dev/',
      'config/testApp/',
      'config/testApp,dev/',
    ]);
  });

  it('ranks a later profile and a later base prefix higher', () => {
    expect(resolveLayers({ app: 'a', profiles: ['cloud', 'prod'], prefix: ['base', '/site/'] })).toEqual([
      'base/application/',
      'base/application,cloud/',
      'base/application,prod/',
      'base/a/',
      'base/a,cloud/',
      'base/a,prod/',
      'site/application/',
      'site/application,cloud/',
      'site/application,prod/',
      'site/a/',
      'site/a,cloud/',
      'site/a,prod/',
    ]);
  });

  it('takes the shared context, the separator and an empty base prefix', () => {
    expect(
      resolveLayers({ app: 'a', profiles: ['p'], prefix: '', sharedContext: 'apps', profileSeparator: '::' }),
    ).toEqual(['apps/', 'apps::p/', 'a/', 'a::p/']);
  });

  it('keeps each repeated context where it ranks highest when the app is the shared context', () => {
    expect(resolveLayers({ app: 'application', profiles: ['dev'] })).toEqual([
      'config/application/',
      'config/application,dev/',
    ]);
  });

  it('adds the trailing / to explicit prefixes and keeps their order', () => {
    expect(resolveLayers(['config/shared', 'config/app/'])).toEqual(['config/shared/', 'config/app/']);
  });

  it.each([
    [[], 'layers must list at least one prefix'],
    [['config/a/', 'config/a'], 'layer config/a/ is listed twice'],
    [[''], 'each layer must be a Consul key prefix such as \'config/app/\', got ""'],
    [{ app: '' }, 'layers.app must be a non-empty folder name'],
    [{ app: 'a/b' }, 'layers.app must be a non-empty folder name'],
    [{ app: 'a', profiles: ['ok', 'x/y'] }, 'layers.profiles[1] must be a non-empty folder name'],
    [{ app: 'a', profileSeparator: '' }, 'layers.profileSeparator must be a non-empty folder name'],
    [{ app: 'a', prefix: [] }, 'layers.prefix must be a folder or a non-empty list of folders'],
    ['config/app/', 'layers must be a list of prefixes or { app, profiles? }'],
  ])('refuses %j at the call', (layers, message) => {
    let thrown: unknown;
    try {
      defineLayeredConfig({
        layers: layers as never,
        schema: z.object({}),
        watcher,
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as InvalidArgumentError).operation).toBe('config.define');
    expect((thrown as Error).message).toContain(`defineLayeredConfig: ${message}`);
  });
});
