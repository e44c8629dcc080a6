/**
 * The page's entry module (`main.js`): tabs, the token form in ACL mode, the live feed and its dispatch to
 * the views; and the table of every browser module served under `/ui/js/`.
 * @module
 */
import { API_JS, UTIL_JS } from './page-js-base.js';
import { KV_JS } from './page-js-kv.js';
import { FAULTS_JS, LIVE_JS, SERVICES_JS } from './page-js-views.js';

/** `/ui/js/main.js` */
export const MAIN_JS = String.raw`import { call, hasToken, setToken, stream, whenDenied } from './api.js';
import { faultsChanged, initFaults } from './faults.js';
import { initKv, kvOnWrite, reloadKv } from './kv.js';
import { initLive, liveOnStats, liveOnWrite, refreshHeld } from './live.js';
import { initServices, refreshServices, touchesLocks } from './services.js';
import { $, setText } from './util.js';

let stopStream;
let servicesDirty = true;

function report(text) {
  $('page-error').textContent = text;
}

function confirmDialog(title, text) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = 'cancel';
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  const select = (tab, focus) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute('aria-selected', String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute('aria-controls')).hidden = !selected;
    }
    if (focus) tab.focus();
    if (tab.id === 'tab-services' && servicesDirty) {
      servicesDirty = false;
      refreshServices();
    }
    if (tab.id === 'tab-live') refreshHeld();
    history.replaceState(null, '', '#' + tab.id.slice(4));
  };
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (event) => {
      const at = tabs.indexOf(tab);
      let next;
      if (event.key === 'ArrowRight') next = tabs[(at + 1) % tabs.length];
      else if (event.key === 'ArrowLeft') next = tabs[(at - 1 + tabs.length) % tabs.length];
      else if (event.key === 'Home') next = tabs[0];
      else if (event.key === 'End') next = tabs[tabs.length - 1];
      if (next === undefined) return;
      event.preventDefault();
      select(next, true);
    });
  }
  const fromHash = tabs.find((tab) => tab.id === 'tab-' + location.hash.slice(1));
  if (fromHash !== undefined) select(fromHash, false);
}

function servicesVisible() {
  return !$('view-services').hidden;
}

function onSummary(summary) {
  setText('sum-index', summary.index);
  setText('sum-held', summary.stats.blockingHeld);
  setText('sum-leader', summary.leader ? 'yes' : 'NONE');
  liveOnStats(summary.stats);
  faultsChanged(summary.faults);
}

function onEvent(name, data) {
  if (name === 'hello' || name === 'stats') onSummary(data);
  else if (name === 'kv') {
    setText('sum-index', data.index);
    setText('sum-held', data.held);
    kvOnWrite(data);
    liveOnWrite(data);
    if (touchesLocks(data)) onEvent('sessions', data);
  } else if (name === 'catalog' || name === 'sessions') {
    if (servicesVisible()) refreshServices();
    else servicesDirty = true;
  } else if (name === 'faults') faultsChanged(data);
}

function onStreamState(state) {
  const dot = $('conn-dot');
  dot.className = 'dot' + (state === 'open' ? ' on' : ' off');
  $('conn-text').textContent = state === 'open' ? 'Live' : state === 'denied' ? 'Token refused' : 'Reconnecting…';
  document.body.dataset.stream = state;
  // After a gap in the feed the page may have missed writes: read everything again.
  if (state === 'open') {
    reloadKv();
    if (servicesVisible()) refreshServices();
    else servicesDirty = true;
  }
}

function start() {
  $('token-form').hidden = true;
  if (stopStream !== undefined) stopStream();
  stopStream = stream(onEvent, onStreamState);
}

async function main() {
  const options = { report, confirm: confirmDialog };
  initKv(options);
  initLive(options);
  initServices(options);
  initFaults(options);
  setupTabs();
  whenDenied((text) => {
    if (!hasToken() && !$('token-form').hidden) return;
    $('token-form').hidden = false;
    $('token-error').textContent = hasToken() ? 'The server refused the token (' + text + ').' : '';
    $('token-input').focus();
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setToken($('token-input').value);
    $('token-input').value = '';
    $('token-error').textContent = '';
    start();
  });
  const info = await call('GET', '/ui/api/info');
  if (info.acl && !hasToken()) {
    $('token-form').hidden = false;
    $('conn-text').textContent = 'Waiting for the ACL token';
    $('token-input').focus();
    return;
  }
  start();
}

main().catch((error) => report('The page failed to start: ' + error.message));
`;

/** File name below `/ui/js/` → module text. */
export const PAGE_JS: Readonly<Record<string, string>> = {
  'main.js': MAIN_JS,
  'api.js': API_JS,
  'util.js': UTIL_JS,
  'kv.js': KV_JS,
  'live.js': LIVE_JS,
  'services.js': SERVICES_JS,
  'faults.js': FAULTS_JS,
};
