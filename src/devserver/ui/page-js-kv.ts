/**
 * The page's keys view (`kv.js`): the key tree under a prefix (a keyboard-usable ARIA tree), the value in
 * its detected format with flags and indexes, and edit, create and delete through the KV HTTP API with
 * check-and-set, so an edit made on a stale value is refused and said so. Live `kv` events update the tree
 * and the open key from the event itself, without a read.
 * @module
 */

/** `/ui/js/kv.js` */
export const KV_JS = String.raw`import { call, enc, list } from './api.js';
import { $, bytesOf, clear, describeValue, h, plural, setText } from './util.js';

const MAX_TREE_ITEMS = 3000;
const state = {
  prefix: '',
  entries: new Map(),
  expanded: new Set(),
  selected: undefined,
  editing: undefined,
  flashed: new Set(),
  renderQueued: false,
};
let report = () => {};
let confirmDialog;

export function initKv(options) {
  report = options.report;
  confirmDialog = options.confirm;
  $('kv-prefix-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.prefix = $('kv-prefix').value;
    state.selected = undefined;
    closeEditor();
    reloadKv();
  });
  $('kv-new').addEventListener('click', () => openEditor(undefined));
  $('kv-edit').addEventListener('click', () => openEditor(state.entries.get(state.selected)));
  $('kv-cancel').addEventListener('click', () => {
    closeEditor();
    showSelected();
  });
  $('kv-form').addEventListener('submit', (event) => {
    event.preventDefault();
    save();
  });
  $('kv-delete').addEventListener('click', () => deleteKey());
  $('kv-delete-folder').addEventListener('click', () => deleteFolder());
  const tree = $('kv-tree');
  tree.addEventListener('keydown', onTreeKey);
  tree.addEventListener('click', (event) => {
    const item = event.target.closest('[role=treeitem]');
    if (item !== null) activate(item, true);
  });
}

export async function reloadKv() {
  try {
    const entries = await list('/v1/kv/' + enc(state.prefix) + '?recurse');
    state.entries = new Map(entries.map((entry) => [entry.Key, normalize(entry)]));
    message('');
  } catch (error) {
    message('Could not read the keys: ' + error.message, true);
  }
  render();
  showSelected();
}

function normalize(entry) {
  return {
    Key: entry.Key,
    Value: entry.Value === null ? undefined : entry.Value,
    Flags: String(entry.Flags),
    CreateIndex: entry.CreateIndex,
    ModifyIndex: entry.ModifyIndex,
    LockIndex: entry.LockIndex,
    Session: entry.Session,
    size: entry.size,
    partial: false,
  };
}

// A committed write, from the live feed: the entries are updated from the event, no read needed.
export function kvOnWrite(event) {
  let touched = false;
  for (const change of event.changes) {
    if (!change.key.startsWith(state.prefix)) continue;
    touched = true;
    if (change.op === 'delete') state.entries.delete(change.key);
    else {
      state.entries.set(change.key, {
        Key: change.key,
        Value: change.value,
        Flags: change.flags,
        CreateIndex: change.createIndex,
        ModifyIndex: change.modifyIndex,
        LockIndex: change.lockIndex,
        Session: change.session,
        size: change.size,
        // Values over the feed's size limit are read when shown.
        partial: change.value === undefined && change.size > 0,
      });
    }
    state.flashed.add(change.key);
    if (change.key === state.selected) noteSelectedChanged(change);
  }
  if (event.more > 0) reloadKv();
  else if (touched) queueRender();
}

function noteSelectedChanged(change) {
  if (state.editing !== undefined && state.editing.key === change.key) {
    $('kv-cas-note').textContent =
      'This key changed at index ' + event_index(change) + ' while you were editing: saving now will be refused, so your edit does not overwrite a value you have not seen.';
    return;
  }
  queueMicrotask(showSelected);
}

function event_index(change) {
  return change.op === 'delete' ? '(deleted)' : change.modifyIndex;
}

function queueRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    render();
  });
}

// The tree: folders from '/' in keys below the prefix.
function buildTree() {
  const root = { path: state.prefix, children: new Map(), entry: undefined };
  const keys = [...state.entries.keys()].sort();
  for (const key of keys) {
    const rest = key.slice(state.prefix.length);
    const parts = rest.split('/');
    let node = root;
    let path = state.prefix;
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      if (last && parts[i] === '') break; // a key ending in '/' is its folder's own entry
      const folder = !last;
      path += parts[i] + (folder ? '/' : '');
      let child = node.children.get(path);
      if (child === undefined) {
        child = { path, name: parts[i] + (folder ? '/' : ''), folder, children: new Map(), entry: undefined };
        node.children.set(path, child);
      }
      node = child;
    }
    node.entry = state.entries.get(key);
  }
  return root;
}

function render() {
  const tree = $('kv-tree');
  const focusedPath = tree.contains(document.activeElement) ? document.activeElement.dataset.path : undefined;
  clear(tree);
  const root = buildTree();
  let count = 0;
  const add = (parentEl, node, level) => {
    for (const child of node.children.values()) {
      if (count++ >= MAX_TREE_ITEMS) return;
      const expanded = state.expanded.has(child.path);
      const item = h('li', {
        role: 'treeitem',
        // Named by its own label, not by the whole subtree inside it.
        'aria-label': child.name,
        'aria-level': level,
        'aria-selected': state.selected === child.path ? 'true' : 'false',
        'aria-expanded': child.folder ? String(expanded) : undefined,
        tabindex: '-1',
        'data-path': child.path,
        'data-folder': child.folder ? 'true' : undefined,
        class: state.flashed.has(child.path) ? 'flash' : undefined,
      }, h('span', { class: 'label', text: child.name }));
      parentEl.append(item);
      if (child.folder) {
        const group = h('ul', { role: 'group', hidden: !expanded });
        item.append(group);
        if (expanded) add(group, child, level + 1);
      }
    }
  };
  add(tree, root, 1);
  state.flashed.clear();
  const n = state.entries.size;
  setText('kv-count', plural(n, 'key') + (state.prefix === '' ? '' : ' under ' + state.prefix) + (count > MAX_TREE_ITEMS ? ' (showing the first ' + MAX_TREE_ITEMS + ')' : ''));
  const items = visibleItems();
  const target = items.find((item) => item.dataset.path === (focusedPath || state.selected)) || items[0];
  if (target !== undefined) target.tabIndex = 0;
  if (focusedPath !== undefined && target !== undefined) target.focus();
}

function visibleItems() {
  return [...$('kv-tree').querySelectorAll('[role=treeitem]')].filter((item) => item.closest('[role=group][hidden]') === null);
}

function focusItem(item) {
  for (const other of $('kv-tree').querySelectorAll('[tabindex="0"]')) other.tabIndex = -1;
  item.tabIndex = 0;
  item.focus();
}

function activate(item, toggle) {
  const path = item.dataset.path;
  state.selected = path;
  if (item.dataset.folder === 'true' && toggle) {
    if (state.expanded.has(path)) state.expanded.delete(path);
    else state.expanded.add(path);
  }
  closeEditor();
  render();
  const again = visibleItems().find((other) => other.dataset.path === path);
  if (again !== undefined) focusItem(again);
  showSelected();
}

function onTreeKey(event) {
  const item = event.target.closest('[role=treeitem]');
  if (item === null) return;
  const items = visibleItems();
  const at = items.indexOf(item);
  const folder = item.dataset.folder === 'true';
  const path = item.dataset.path;
  let next;
  switch (event.key) {
    case 'ArrowDown': next = items[at + 1]; break;
    case 'ArrowUp': next = items[at - 1]; break;
    case 'Home': next = items[0]; break;
    case 'End': next = items[items.length - 1]; break;
    case 'ArrowRight':
      if (folder && !state.expanded.has(path)) {
        state.expanded.add(path);
        render();
        focusItem(visibleItems()[at]);
      } else if (folder) next = items[at + 1];
      break;
    case 'ArrowLeft':
      if (folder && state.expanded.has(path)) {
        state.expanded.delete(path);
        render();
        focusItem(visibleItems()[at]);
      } else {
        const parent = item.parentElement.closest('[role=treeitem]');
        if (parent !== null) next = parent;
      }
      break;
    case 'Enter':
    case ' ':
      activate(item, true);
      break;
    default:
      return;
  }
  event.preventDefault();
  if (next !== undefined) focusItem(next);
}

async function showSelected() {
  const path = state.selected;
  const entry = path === undefined ? undefined : state.entries.get(path);
  const isFolder = path !== undefined && (path.endsWith('/') || [...state.entries.keys()].some((key) => key.startsWith(path + '/')));
  $('kv-delete-folder').disabled = !(path !== undefined && path.endsWith('/'));
  if (state.editing !== undefined) return;
  if (entry === undefined) {
    setText('kv-title', path === undefined ? 'No key selected' : path);
    $('kv-entry').hidden = true;
    $('kv-hint').hidden = false;
    $('kv-hint').textContent = path === undefined
      ? 'Choose a key in the tree, or create one.'
      : isFolder
        ? 'A folder with ' + plural(keysUnder(path).length, 'key') + '.'
        : 'This key no longer exists.';
    return;
  }
  if (entry.partial) {
    try {
      const [fresh] = await call('GET', '/v1/kv/' + enc(entry.Key));
      Object.assign(entry, normalize(fresh));
    } catch (error) {
      message('Could not read ' + entry.Key + ': ' + error.message, true);
    }
  }
  const described = describeValue(entry.Value);
  setText('kv-title', entry.Key);
  $('kv-hint').hidden = true;
  $('kv-entry').hidden = false;
  setText('kv-format', described.format);
  setText('kv-size', plural(entry.size === undefined ? bytesOf(entry.Value).length : entry.size, 'byte'));
  setText('kv-flags', entry.Flags);
  setText('kv-create-index', entry.CreateIndex);
  setText('kv-modify-index', entry.ModifyIndex);
  setText('kv-lock-index', entry.LockIndex);
  setText('kv-session', entry.Session || 'none');
  $('kv-view').textContent = described.view;
  $('kv-edit').disabled = described.format === 'binary';
}

function keysUnder(path) {
  return [...state.entries.keys()].filter((key) => key.startsWith(path));
}

function openEditor(entry) {
  if (entry === undefined) {
    state.editing = { key: undefined, casIndex: 0 };
    setText('kv-title', 'New key');
    $('kv-key').value = state.selected !== undefined && state.selected.endsWith('/') ? state.selected : state.prefix;
    $('kv-value').value = '';
    $('kv-flags-input').value = '0';
    $('kv-key-field').hidden = false;
    $('kv-cas-note').textContent = 'Created only if no key has this name yet.';
  } else {
    const described = describeValue(entry.Value);
    state.editing = { key: entry.Key, casIndex: entry.ModifyIndex };
    $('kv-key').value = entry.Key;
    $('kv-value').value = described.text || '';
    $('kv-flags-input').value = entry.Flags;
    $('kv-key-field').hidden = true;
    $('kv-cas-note').textContent = 'Saved only if the key is still at ModifyIndex ' + entry.ModifyIndex + ' (check-and-set).';
  }
  $('kv-entry').hidden = true;
  $('kv-hint').hidden = true;
  $('kv-form').hidden = false;
  message('');
  (entry === undefined ? $('kv-key') : $('kv-value')).focus();
}

function closeEditor() {
  state.editing = undefined;
  $('kv-form').hidden = true;
}

async function save() {
  const editing = state.editing;
  if (editing === undefined) return;
  const key = editing.key === undefined ? $('kv-key').value : editing.key;
  const flags = $('kv-flags-input').value.trim() || '0';
  if (key === '' || key.startsWith('/')) {
    message('A key needs a name that does not start with "/".', true);
    return;
  }
  if (!/^[0-9]+$/.test(flags)) {
    message('Flags are a whole number from 0 to 2^64-1.', true);
    return;
  }
  const path = '/v1/kv/' + enc(key) + '?cas=' + editing.casIndex + '&flags=' + flags;
  let ok;
  try {
    ok = await call('PUT', path, $('kv-value').value);
  } catch (error) {
    message('Not saved: ' + error.message, true);
    return;
  }
  if (ok === true) {
    closeEditor();
    state.selected = key;
    for (let at = key.indexOf('/'); at >= 0; at = key.indexOf('/', at + 1)) state.expanded.add(key.slice(0, at + 1));
    message('Saved ' + key + '.');
    let current = state.entries.get(key);
    if (current === undefined || current.ModifyIndex <= editing.casIndex) {
      const [fresh] = await list('/v1/kv/' + enc(key));
      if (fresh !== undefined) state.entries.set(key, normalize(fresh));
    }
    render();
    showSelected();
    return;
  }
  const current = state.entries.get(key);
  if (editing.casIndex === 0) {
    message('Not created: ' + key + ' exists already' + (current ? ' (ModifyIndex ' + current.ModifyIndex + ')' : '') + '. Open it from the tree to edit it.', true);
    return;
  }
  const now = current === undefined ? 'it has been deleted' : 'it is now at ModifyIndex ' + current.ModifyIndex;
  message('Not saved: ' + key + ' changed since you opened it (you edited ModifyIndex ' + editing.casIndex + '; ' + now + '). Your text is kept: Cancel to see the current value, or Save again to overwrite it.', true);
  editing.casIndex = current === undefined ? 0 : current.ModifyIndex;
  $('kv-cas-note').textContent = 'Saving again overwrites the value at ModifyIndex ' + editing.casIndex + '.';
}

async function deleteKey() {
  const entry = state.entries.get(state.selected);
  if (entry === undefined) return;
  if (!(await confirmDialog('Delete ' + entry.Key + '?', 'Delete this key (only if it is still at ModifyIndex ' + entry.ModifyIndex + ').'))) return;
  try {
    const ok = await call('DELETE', '/v1/kv/' + enc(entry.Key) + '?cas=' + entry.ModifyIndex);
    if (ok === true) {
      state.entries.delete(entry.Key);
      message('Deleted ' + entry.Key + '.');
    } else message('Not deleted: ' + entry.Key + ' changed since it was shown; look at it again first.', true);
  } catch (error) {
    message('Not deleted: ' + error.message, true);
  }
  render();
  showSelected();
}

async function deleteFolder() {
  const path = state.selected;
  if (path === undefined || !path.endsWith('/')) return;
  const n = keysUnder(path).length;
  if (!(await confirmDialog('Delete the folder ' + path + '?', 'Delete ' + plural(n, 'key') + ' under ' + path + ', recursively. This cannot be undone.'))) return;
  try {
    await call('DELETE', '/v1/kv/' + enc(path) + '?recurse');
    for (const key of keysUnder(path)) state.entries.delete(key);
    message('Deleted ' + plural(n, 'key') + ' under ' + path + '.');
    state.selected = undefined;
  } catch (error) {
    message('Not deleted: ' + error.message, true);
  }
  render();
  showSelected();
}

function message(text, isError) {
  const el = $('kv-message');
  el.textContent = text;
  el.className = isError ? 'error' : 'ok';
  if (isError) report('');
}
`;
