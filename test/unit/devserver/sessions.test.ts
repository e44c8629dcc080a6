import { afterEach, describe, expect, it } from 'vitest';
import { type SessionCheckStatus, type SessionSpec, SessionStore } from '../../../src/devserver/sessions.js';
import { KvStore } from '../../../src/devserver/store.js';

const NODE = 'node-1';
const stores: SessionStore[] = [];

afterEach(() => {
  for (const store of stores.splice(0)) store.dispose();
});

function setup(statuses: Record<string, SessionCheckStatus> = { serfHealth: 'passing' }) {
  let nowMs = 0;
  const commits: string[][] = [];
  const kv = new KvStore({
    tombstoneTtlMs: 60_000,
    now: () => nowMs,
    onCommit: (keys) => commits.push([...keys]),
  });
  const sessions = new SessionStore({
    store: kv,
    nodeName: NODE,
    now: () => nowMs,
    checks: { status: (checkId) => statuses[checkId] },
  });
  stores.push(sessions);
  return {
    kv,
    sessions,
    commits,
    statuses,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

function spec(extra: Partial<SessionSpec> = {}): SessionSpec {
  return {
    name: '',
    node: NODE,
    lockDelayNs: 15_000_000_000,
    behavior: '',
    ttl: '',
    nodeChecks: ['serfHealth'],
    serviceChecks: null,
    checks: null,
    ...extra,
  };
}

function created(sessions: SessionStore, extra: Partial<SessionSpec> = {}): string {
  const result = sessions.create(spec(extra));
  if (!result.ok) throw new Error(result.error);
  return result.session.id;
}

describe('SessionStore create (consul-semantics §L1, §L2)', () => {
  it('takes a new index on the KV store, defaults the behaviour to release and bumps the table index', () => {
    const { kv, sessions } = setup();
    expect(sessions.index()).toBe(1);
    const result = sessions.create(spec());
    expect(result.ok && [result.session.behavior, result.session.createIndex]).toEqual(['release', 2]);
    expect([kv.index(), sessions.index()]).toEqual([2, 2]);
  });

  it('checks node, then every linked check (legacy Checks first), in Consul order', () => {
    const { sessions } = setup({ serfHealth: 'passing', 'service:web': 'critical', warn: 'warning' });
    expect(sessions.create(spec({ node: '' }))).toEqual({ ok: false, error: 'Must provide Node' });
    expect(sessions.create(spec({ node: 'x', behavior: 'nope' }))).toEqual({
      ok: false,
      error: "Invalid Behavior setting 'nope'",
    });
    expect(
      sessions.create(spec({ checks: ['gone'], serviceChecks: [{ id: 'service:web', namespace: '' }] })),
    ).toEqual({
      ok: false,
      error: "Missing check 'gone' registration",
    });
    expect(sessions.create(spec({ serviceChecks: [{ id: 'service:web', namespace: '' }] }))).toEqual({
      ok: false,
      error: "Check 'service:web' is in critical state",
    });
    expect(sessions.create(spec({ nodeChecks: ['serfHealth', 'warn'] })).ok).toBe(true);
    expect(sessions.create(spec({ ttl: '0s' })).ok).toBe(true);
  });
});

describe('SessionStore invalidation (consul-semantics §L3, §L4)', () => {
  it('releases held keys under one index, in one commit, and sets the lock-delay capped at 60 s', () => {
    const { kv, sessions, commits, advance } = setup();
    const id = created(sessions, { lockDelayNs: 3_600_000_000_000 });
    expect(kv.acquire('a', null, 0n, id)).toBe(true);
    expect(kv.acquire('b', null, 0n, id)).toBe(true);
    commits.length = 0;
    expect(sessions.destroy(id)).toBe(true);
    expect(commits).toEqual([['a', 'b']]);
    expect([kv.get('a').value?.session, kv.get('a').value?.modifyIndex, sessions.index()]).toEqual([
      undefined,
      5,
      5,
    ]);
    advance(59_999);
    expect(sessions.lockDelayed('a')).toBe(true);
    advance(1);
    expect(sessions.lockDelayed('a')).toBe(false);
    expect(sessions.destroy(id)).toBe(false);
  });

  it('expires at exactly twice the TTL, counted again from each renew', () => {
    const { sessions, advance } = setup();
    const id = created(sessions, { ttl: '15s' });
    advance(29_999);
    expect(sessions.renew(id)?.id).toBe(id);
    advance(29_999);
    expect(sessions.expireDue()).toBe(0);
    advance(1);
    expect(sessions.expireDue()).toBe(1);
    expect(sessions.renew(id)).toBeUndefined();
  });

  it('does not expire a session without a TTL, and wakes subscribers on every table change', () => {
    const { sessions, advance } = setup();
    let wakes = 0;
    const unsubscribe = sessions.subscribe(() => wakes++);
    const id = created(sessions);
    advance(365 * 86_400_000);
    expect(sessions.get(id)?.id).toBe(id);
    sessions.destroy(id);
    unsubscribe();
    created(sessions);
    expect(wakes).toBe(2);
  });

  it('invalidates only the sessions linked to a check turned critical', () => {
    const { sessions } = setup({ serfHealth: 'passing', 'service:api': 'passing' });
    const node = created(sessions);
    const service = created(sessions, {
      nodeChecks: [],
      serviceChecks: [{ id: 'service:api', namespace: '' }],
    });
    expect(sessions.checkTurnedCritical('service:api')).toEqual([service]);
    expect(sessions.list().map((session) => session.id)).toEqual([node]);
    expect(sessions.checkTurnedCritical('other')).toEqual([]);
  });
});
