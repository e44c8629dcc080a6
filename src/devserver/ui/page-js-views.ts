/**
 * The page's live, services and faults views (`live.js`, `services.js`, `faults.js`): the stream of
 * writes with a prefix filter and the held blocking queries; services, instances, checks, sessions and
 * locks with maintenance and TTL buttons; and the fault switches with what is active now.
 * @module
 */

/** `/ui/js/live.js` */
export const LIVE_JS = String.raw`import { call } from './api.js';
import { $, clear, formatTime, h, setText } from './util.js';

const MAX_ROWS = 500;
let paused = false;
let report = () => {};

export function initLive(options) {
  report = options.report;
  $('live-pause').addEventListener('click', () => {
    paused = !paused;
    $('live-pause').setAttribute('aria-pressed', String(paused));
    $('live-pause').textContent = paused ? 'Resume' : 'Pause';
  });
  $('live-clear').addEventListener('click', () => clear($('live-log')));
  $('live-filter').addEventListener('input', applyFilter);
  $('live-form').addEventListener('submit', (event) => event.preventDefault());
  $('held-refresh').addEventListener('click', () => refreshHeld());
}

function applyFilter() {
  const prefix = $('live-filter').value;
  for (const row of $('live-log').children) row.hidden = !row.dataset.key.startsWith(prefix);
}

export function liveOnWrite(event) {
  setText('live-woken', event.woken);
  setText('live-held', event.held);
  if (paused) return;
  const log = $('live-log');
  const prefix = $('live-filter').value;
  const rows = event.changes.map((change) => h('li', { 'data-key': change.key, hidden: !change.key.startsWith(prefix) },
    h('span', { class: 't', text: formatTime(event.timeMs) }),
    h('span', { text: String(event.index) }),
    h('span', { class: 'ty op-' + change.op, text: change.op }),
    h('span', { class: 'k', text: change.key }),
    h('span', { text: String(event.woken) })));
  if (event.more > 0) rows.push(h('li', { 'data-key': '' }, h('span', { class: 'k', text: '… and ' + event.more + ' more keys in this write' })));
  for (const row of rows.reverse()) log.prepend(row);
  while (log.children.length > MAX_ROWS) log.lastElementChild.remove();
}

export function liveOnStats(stats) {
  setText('live-held', stats.blockingHeld);
  setText('live-wakeups', stats.wakeups);
  setText('live-requests', stats.requests);
  setText('live-connections', stats.connections);
}

export async function refreshHeld() {
  let state;
  try {
    state = await call('GET', '/ui/api/state');
  } catch (error) {
    report('Could not read the held queries: ' + error.message);
    return undefined;
  }
  const body = $('held-table');
  clear(body);
  const rows = [
    ...state.waiters.kv.map((target) => ['KV ' + target.kind, target.path, target.count]),
    ...state.waiters.catalog.map((target) => ['catalog', target.path, target.count]),
  ];
  if (rows.length === 0) body.append(h('tr', {}, h('td', { colspan: '3', class: 'muted', text: 'No blocking query is held.' })));
  for (const [area, path, count] of rows) {
    body.append(h('tr', {}, h('td', { text: area }), h('td', { class: 'mono', text: path === '' ? '(every key)' : path }), h('td', { text: String(count) })));
  }
  liveOnStats(state.stats);
  return state;
}
`;

/** `/ui/js/services.js` */
export const SERVICES_JS = String.raw`import { call, enc } from './api.js';
import { $, clear, h } from './util.js';

let report = () => {};
let loading;
let again = false;
let lockedKeys = new Set();

// Whether a write changed a lock (an acquire, a release, a locked key deleted), so the sessions table is stale.
export function touchesLocks(event) {
  return event.changes.some((change) => change.session !== undefined || lockedKeys.has(change.key));
}

export function initServices(options) {
  report = options.report;
}

// Re-reads services, checks and sessions; calls during a read are folded into one more read.
export function refreshServices() {
  if (loading !== undefined) {
    again = true;
    return loading;
  }
  loading = load().finally(() => {
    loading = undefined;
    if (again) {
      again = false;
      refreshServices();
    }
  });
  return loading;
}

async function load() {
  let services, checks, sessions, state;
  try {
    [services, checks, sessions, state] = await Promise.all([
      call('GET', '/v1/agent/services'),
      call('GET', '/v1/agent/checks'),
      call('GET', '/v1/session/list'),
      call('GET', '/ui/api/state'),
    ]);
  } catch (error) {
    report('Could not read services: ' + error.message);
    return;
  }
  $('svc-leader').textContent = state.leader ? 'The cluster has a leader.' : 'No cluster leader: KV, session, catalog and health requests answer 500 No cluster leader (stale reads are served).';
  $('svc-leader').className = state.leader ? 'ok' : 'error';
  renderServices(services, checks);
  lockedKeys = new Set(state.locks.map((lock) => lock.key));
  renderSessions(sessions, state.locks);
}

function byName(services) {
  const names = new Map();
  for (const service of Object.values(services)) {
    if (!names.has(service.Service)) names.set(service.Service, []);
    names.get(service.Service).push(service);
  }
  return [...names.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function renderServices(services, checks) {
  const list = $('svc-list');
  clear(list);
  const all = Object.values(checks);
  const node = all.filter((check) => check.ServiceID === '');
  if (node.length > 0) list.append(h('article', { class: 'svc', 'aria-label': 'node checks' }, h('h3', { text: 'Node node-1' }), checkList(node)));
  const groups = byName(services);
  if (groups.length === 0) list.append(h('p', { class: 'muted', text: 'No service is registered.' }));
  for (const [name, instances] of groups) {
    const article = h('article', { class: 'svc', 'aria-label': 'service ' + name }, h('h3', { text: name + ' (' + instances.length + (instances.length === 1 ? ' instance)' : ' instances)') }));
    for (const instance of instances.sort((a, b) => (a.ID < b.ID ? -1 : 1))) {
      const mine = all.filter((check) => check.ServiceID === instance.ID);
      const maintenance = mine.some((check) => check.CheckID === '_service_maintenance:' + instance.ID);
      const address = (instance.Address || '127.0.0.1') + ':' + instance.Port;
      const toggle = h('button', {
        type: 'button', role: 'switch', 'aria-checked': String(maintenance), 'data-maintenance': instance.ID,
        onclick: () => setMaintenance(instance.ID, !maintenance),
      }, 'Maintenance');
      article.append(h('div', { class: 'inst', 'data-instance': instance.ID },
        h('div', { class: 'inst-head' },
          h('strong', { class: 'mono', text: instance.ID }),
          h('span', { class: 'mono', text: address }),
          instance.Tags && instance.Tags.length > 0 ? h('span', { class: 'muted', text: 'tags: ' + instance.Tags.join(', ') }) : undefined,
          toggle),
        mine.length === 0 ? h('p', { class: 'muted', text: 'No checks.' }) : checkList(mine)));
    }
    list.append(article);
  }
}

function checkList(checks) {
  return h('ul', { class: 'checks' }, checks.sort((a, b) => (a.CheckID < b.CheckID ? -1 : 1)).map((check) => {
    const ttl = check.Type === 'ttl';
    const name = check.Name || check.CheckID;
    return h('li', { 'data-check': check.CheckID },
      h('span', { class: 'badge st-' + check.Status, 'data-status': check.Status, text: check.Status }),
      h('span', { text: name }),
      h('span', { class: 'muted mono', text: check.CheckID + (check.Type ? ' · ' + check.Type : '') }),
      ttl ? ['pass', 'warn', 'fail'].map((verb) => h('button', {
        type: 'button', 'aria-label': verb + ' ' + name, 'data-ttl': verb,
        onclick: () => ttlUpdate(check.CheckID, verb),
      }, verb)) : undefined,
      check.Output ? h('span', { class: 'out', text: check.Output }) : undefined);
  }));
}

async function setMaintenance(id, enable) {
  try {
    await call('PUT', '/v1/agent/service/maintenance/' + enc(id) + '?enable=' + enable + (enable ? '&reason=' + encodeURIComponent('set from the dev server page') : ''));
  } catch (error) {
    report('Maintenance not changed: ' + error.message);
  }
  refreshServices();
}

async function ttlUpdate(checkId, verb) {
  try {
    await call('PUT', '/v1/agent/check/' + verb + '/' + enc(checkId) + '?note=' + encodeURIComponent(verb + ' from the dev server page'));
  } catch (error) {
    report('Check not updated: ' + error.message);
  }
  refreshServices();
}

function renderSessions(sessions, locks) {
  const body = $('sessions-table');
  clear(body);
  if (sessions.length === 0) body.append(h('tr', {}, h('td', { colspan: '6', class: 'muted', text: 'No session.' })));
  for (const session of sessions) {
    const held = locks.filter((lock) => lock.session === session.ID).map((lock) => lock.key);
    const checks = [...(session.NodeChecks || []), ...(session.ServiceChecks || []).map((check) => check.ID)];
    body.append(h('tr', {},
      h('td', { class: 'mono', text: session.ID }),
      h('td', { text: session.Name || '' }),
      h('td', { text: session.TTL || 'none' }),
      h('td', { text: session.Behavior }),
      h('td', { class: 'mono', text: checks.join(', ') }),
      h('td', { class: 'mono', text: held.length === 0 ? 'none' : held.join(', ') })));
  }
}
`;

/** `/ui/js/faults.js` */
export const FAULTS_JS = String.raw`import { call } from './api.js';
import { $, clear, h } from './util.js';

// Each switch adds one rule; its "for" choices are a number of requests or a time on the server's clock.
const COUNTS = [['1', 'the next request', { times: 1 }], ['3', 'the next 3 requests', { times: 3 }], ['10s', '10 seconds', { forMs: 10000 }], ['60s', '1 minute', { forMs: 60000 }], ['inf', 'until turned off', { times: 'inf' }]];
const SWITCHES = [
  { id: 'status-500', title: '500 Internal Server Error', what: 'KV requests get a 500 instead of an answer.', rule: { kind: 'status', status: 500 }, kv: true },
  { id: 'status-503', title: '503 Service Unavailable', what: 'KV requests get a 503.', rule: { kind: 'status', status: 503 }, kv: true },
  { id: 'status-429', title: '429 Too Many Requests', what: 'KV requests are rate-limited.', rule: { kind: 'status', status: 429 }, kv: true },
  { id: 'hang', title: 'Hang', what: 'No answer at all, until the client gives up.', rule: { kind: 'hang' }, kv: true },
  { id: 'reset', title: 'Connection reset', what: 'Headers and half the body, then a reset.', rule: { kind: 'reset' }, kv: true },
  { id: 'malformed', title: 'Malformed JSON', what: '200 with a broken body.', rule: { kind: 'malformed' }, kv: true },
  { id: 'index-back', title: 'Index goes backwards', what: 'X-Consul-Index is 1, lower than any the client saw.', rule: { kind: 'index', index: 1 }, kv: true },
  { id: 'index-missing', title: 'Index missing', what: 'The answer has no X-Consul-Index.', rule: { kind: 'index', index: 'missing' }, kv: true },
  { id: 'spurious', title: 'Spurious wake-up', what: 'A blocking query returns at once, unchanged.', rule: { kind: 'spurious' }, kv: true },
  { id: 'agent-restart', title: 'Agent restart', what: 'The next request of any kind finds every service, check and session forgotten.', rule: { kind: 'agent-restart' }, once: true },
  { id: 'no-leader', title: 'Leader election', what: 'From the next request, KV, session, catalog and health requests answer 500 No cluster leader for the chosen time (stale reads are served).', rule: { kind: 'no-leader' }, leader: true },
  { id: 'check-hang', title: 'Check target hangs', what: 'The next HTTP/TCP check run meets a target that never answers.', rule: { kind: 'check-hang' } },
];
const LEADER_WINDOWS = [['5000', '5 seconds'], ['30000', '30 seconds'], ['120000', '2 minutes']];

let report = () => {};
const ruleOfSwitch = new Map();
let active = [];

export function initFaults(options) {
  report = options.report;
  const list = $('fault-switches');
  for (const spec of SWITCHES) {
    const selectId = 'fault-for-' + spec.id;
    const choices = spec.leader ? LEADER_WINDOWS : spec.once ? [['1', 'the next request']] : COUNTS;
    const select = h('select', { id: selectId }, choices.map(([value, label]) => h('option', { value, text: label })));
    const toggle = h('button', { type: 'button', role: 'switch', id: 'fault-' + spec.id, 'aria-checked': 'false', 'aria-describedby': 'fault-what-' + spec.id, onclick: () => flip(spec) }, spec.title);
    list.append(h('li', {}, toggle,
      h('label', { for: selectId, text: spec.leader ? 'lasting' : 'for' }), select,
      h('p', { class: 'what', id: 'fault-what-' + spec.id, text: spec.what })));
  }
  $('faults-clear').addEventListener('click', async () => {
    try {
      faultsChanged(await call('DELETE', '/ui/api/faults'));
    } catch (error) {
      report('Faults not cleared: ' + error.message);
    }
  });
  $('faults-scope').addEventListener('submit', (event) => event.preventDefault());
}

async function flip(spec) {
  const toggle = $('fault-' + spec.id);
  const on = ruleOfSwitch.get(spec.id);
  try {
    if (on !== undefined && active.some((fault) => fault.id === on)) {
      faultsChanged(await call('DELETE', '/ui/api/faults/' + on));
      ruleOfSwitch.delete(spec.id);
      return;
    }
    const choice = $('fault-for-' + spec.id).value;
    const body = Object.assign({}, spec.rule);
    if (spec.leader) body.durationMs = Number(choice);
    else if (!spec.once) Object.assign(body, COUNTS.find((entry) => entry[0] === choice)[2]);
    if (spec.kv) {
      body.method = $('fault-method').value;
      if ($('fault-prefix').value !== '') body.keyPrefix = $('fault-prefix').value;
    }
    const added = await call('POST', '/ui/api/faults', JSON.stringify(body), 'application/json');
    ruleOfSwitch.set(spec.id, added.id);
    toggle.setAttribute('aria-checked', 'true');
    faultsChanged(await call('GET', '/ui/api/faults'));
  } catch (error) {
    report('Fault not changed: ' + error.message);
  }
}

export function faultsChanged(faults) {
  active = faults;
  for (const spec of SWITCHES) {
    const id = ruleOfSwitch.get(spec.id);
    const on = id !== undefined && faults.some((fault) => fault.id === id);
    if (!on) ruleOfSwitch.delete(spec.id);
    $('fault-' + spec.id).setAttribute('aria-checked', String(on));
  }
  const list = $('faults-active');
  clear(list);
  if (faults.length === 0) list.append(h('li', { class: 'muted', text: 'No fault is active: the server answers normally.' }));
  for (const fault of faults) {
    const left = fault.remaining === 'inf' ? (fault.endsAtMs !== undefined ? 'until ' + new Date(fault.endsAtMs).toLocaleTimeString() : 'until turned off') : fault.remaining + ' more';
    list.append(h('li', { 'data-fault': String(fault.id) },
      h('span', { class: 'badge st-critical', text: fault.kind }),
      h('span', { class: 'mono', text: fault.label }),
      h('span', { class: 'muted', text: left }),
      h('button', { type: 'button', 'aria-label': 'Turn off ' + fault.label, onclick: async () => {
        try {
          faultsChanged(await call('DELETE', '/ui/api/faults/' + fault.id));
        } catch (error) {
          report('Fault not turned off: ' + error.message);
        }
      } }, 'Turn off')));
  }
  const summary = document.getElementById('sum-faults');
  if (summary !== null) summary.textContent = faults.length === 0 ? 'none' : String(faults.length);
}
`;
