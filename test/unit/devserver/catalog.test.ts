import { describe, expect, it } from 'vitest';
import { Catalog, serviceWaitKey, WAIT_CHECKS, WAIT_SERVICES } from '../../../src/devserver/catalog.js';
import { RaftLog } from '../../../src/devserver/raft-log.js';
import { decodeServiceRegistration } from '../../../src/devserver/service-definition.js';

function registration(definition: unknown) {
  const decoded = decodeServiceRegistration(Buffer.from(JSON.stringify(definition)));
  if (!decoded.ok) throw new Error(decoded.text);
  return decoded.value;
}

function newCatalog() {
  return new Catalog({ now: () => 0, raft: new RaftLog() });
}

describe('Catalog indexes (consul-semantics §S3.2)', () => {
  it('moves the service index but not the services table index on a check status change', () => {
    const catalog = newCatalog();
    catalog.registerService(registration({ Name: 'web', Check: { TTL: '10s' } }), false);
    const services = catalog.servicesTableIndex;
    const web = catalog.serviceIndexOf('web');
    catalog.updateCheck('service:web', 'passing', 'ok');
    expect(catalog.servicesTableIndex).toBe(services);
    expect(catalog.serviceIndexOf('web')).toBeGreaterThan(web);
    expect(catalog.checksTableIndex).toBe(catalog.serviceIndexOf('web'));
  });

  it('does not bump any index for a repeated status and output', () => {
    const catalog = newCatalog();
    catalog.registerService(registration({ Name: 'web', Check: { TTL: '10s' } }), false);
    catalog.updateCheck('service:web', 'passing', 'ok');
    const index = catalog.index;
    catalog.updateCheck('service:web', 'passing', 'ok');
    catalog.registerService(registration({ Name: 'web', Check: { TTL: '10s' } }), false);
    expect(catalog.index).toBe(index);
  });

  it('answers a service without instances with the extinction index', () => {
    const catalog = newCatalog();
    catalog.registerService(registration({ Name: 'web', ID: 'web-1' }), false);
    catalog.registerService(registration({ Name: 'web', ID: 'web-2' }), false);
    catalog.deregisterService('web-1');
    const afterFirst = catalog.serviceIndexOf('web');
    catalog.deregisterService('web-2');
    const extinct = catalog.index;
    expect(afterFirst).toBeLessThan(extinct);
    expect(catalog.serviceIndexOf('web')).toBe(extinct);
    expect(catalog.serviceIndexOf('never-registered')).toBe(extinct);
  });

  it('wakes only the waiters of the service whose check changed', () => {
    const catalog = newCatalog();
    catalog.registerService(registration({ Name: 'web', Check: { TTL: '10s' } }), false);
    catalog.registerService(registration({ Name: 'api', Check: { TTL: '10s' } }), false);
    const woken: string[] = [];
    for (const key of [serviceWaitKey('web'), serviceWaitKey('api'), WAIT_SERVICES, WAIT_CHECKS]) {
      catalog.waiters.add({ kind: 'key', path: key }, () => woken.push(key));
    }
    catalog.updateCheck('service:web', 'passing', '');
    expect(woken.sort()).toEqual([WAIT_CHECKS, serviceWaitKey('web')].sort());
  });

  it('keeps status and output of a re-registered check and drops left-out checks only with replace-existing-checks', () => {
    const catalog = newCatalog();
    catalog.registerService(registration({ Name: 'web', Checks: [{ TTL: '10s' }, { TTL: '20s' }] }), false);
    catalog.updateCheck('service:web:1', 'passing', 'fine');
    catalog.registerService(
      registration({ Name: 'web', Check: { CheckID: 'service:web:1', TTL: '10s' } }),
      false,
    );
    expect(catalog.check('service:web:1')?.status).toBe('passing');
    expect(catalog.check('service:web:2')).toBeDefined();
    catalog.registerService(
      registration({ Name: 'web', Check: { CheckID: 'service:web:1', TTL: '10s' } }),
      true,
    );
    expect(catalog.check('service:web:2')).toBeUndefined();
  });

  it('tells listeners of status changes and deregistrations, in order', () => {
    const catalog = newCatalog();
    const events: unknown[] = [];
    catalog.onCheckChange((event) => events.push([event.checkId, event.previous, event.status]));
    catalog.registerService(registration({ Name: 'web', Check: { TTL: '10s' } }), false);
    catalog.updateCheck('service:web', 'passing', '');
    catalog.deregisterService('web');
    expect(events).toEqual([
      ['service:web', undefined, 'critical'],
      ['service:web', 'critical', 'passing'],
      ['service:web', 'passing', undefined],
    ]);
  });
});
