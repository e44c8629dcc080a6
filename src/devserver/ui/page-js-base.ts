/**
 * The page's shared browser modules: DOM helpers and value formats (`util.js`), and the one client of the
 * server (`api.js`) that holds the ACL token in memory and reads the live feed by streaming `fetch`, so the
 * token travels in a header, never in a URL (an EventSource could only send it in the URL).
 * Kept as `String.raw` text: the browser code uses no backticks and no `${`.
 * @module
 */

/** `/ui/js/util.js` */
export const UTIL_JS = String.raw`// DOM helpers and value formats.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') el.textContent = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

export function setText(id, value) {
  const el = $(id);
  if (el !== null) el.textContent = value === undefined || value === null ? '–' : String(value);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function bytesOf(base64) {
  if (base64 === undefined || base64 === null) return new Uint8Array(0);
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const YAML_LINE = /^(\s*-\s+\S|\s*[A-Za-z0-9_."'-]+\s*:(\s|$)|---\s*$|#)/;

// What a value looks like: json (pretty-printed), yaml, text, or binary (not UTF-8).
export function describeValue(base64) {
  const bytes = bytesOf(base64);
  if (bytes.length === 0) return { format: 'empty', text: '', view: '' };
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { format: 'binary', text: undefined, view: 'binary value, ' + bytes.length + ' bytes (base64):\n' + base64 };
  }
  const trimmed = text.trim();
  if (/^[[{"]|^-?[0-9]|^(true|false|null)$/.test(trimmed)) {
    try {
      return { format: 'JSON', text, view: JSON.stringify(JSON.parse(trimmed), null, 2) };
    } catch {
      // not JSON after all
    }
  }
  const lines = trimmed.split('\n').filter((line) => line.trim() !== '');
  if (lines.length > 0 && lines.every((line) => YAML_LINE.test(line) || /^\s+\S/.test(line)) && lines.some((line) => /:(\s|$)|^\s*-\s/.test(line))) {
    return { format: 'YAML', text, view: text };
  }
  return { format: 'text', text, view: text };
}

export function encodeText(text) {
  return new TextEncoder().encode(text);
}

export function formatTime(ms) {
  const d = new Date(ms);
  const pad = (n, w) => String(n).padStart(w || 2, '0');
  return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
}

export function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many || one + 's');
}

// Moves focus among a list of elements with the arrow keys, Home and End (a roving tabindex).
export function rovingKeys(event, items, current) {
  const at = items.indexOf(current);
  let next;
  if (event.key === 'ArrowDown' || event.key === 'ArrowRight') next = items[Math.min(items.length - 1, at + 1)];
  else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') next = items[Math.max(0, at - 1)];
  else if (event.key === 'Home') next = items[0];
  else if (event.key === 'End') next = items[items.length - 1];
  return next;
}
`;

/** `/ui/js/api.js` */
export const API_JS = String.raw`// The page's one client of the server. The token lives in this module's memory only.
let token = '';
let onDenied = () => {};

export function setToken(value) {
  token = value;
}

export function hasToken() {
  return token !== '';
}

export function whenDenied(callback) {
  onDenied = callback;
}

function headers(extra) {
  const out = Object.assign({}, extra || {});
  if (token !== '') out['X-Consul-Token'] = token;
  return out;
}

export class ApiError extends Error {
  constructor(method, path, status, text) {
    super(method + ' ' + path + ': ' + status + (text ? ' ' + text : ''));
    this.status = status;
    this.text = text;
  }
}

// One request; resolves with the parsed JSON (or text), rejects with ApiError for a status >= 400.
export async function call(method, path, body, contentType) {
  const init = { method, headers: headers(contentType ? { 'Content-Type': contentType } : {}), cache: 'no-store' };
  if (body !== undefined) init.body = body;
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(method, path, 0, 'the dev server did not answer (' + error.message + ')');
  }
  const text = await response.text();
  if (response.status === 403) onDenied(text);
  if (response.status >= 400) throw new ApiError(method, path, response.status, text);
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json') && text !== '') return JSON.parse(text);
  return text;
}

// Consul answers 404 for a prefix with no keys: that is an empty list here.
export async function list(path) {
  try {
    return await call('GET', path);
  } catch (error) {
    if (error.status === 404) return [];
    throw error;
  }
}

export const enc = (key) => key.split('/').map(encodeURIComponent).join('/');

// Reads the server's live feed (text/event-stream) with fetch, so the token goes in a header. Calls
// onEvent(name, data) per event and onState('open' | 'closed' | 'denied'); reconnects with a backoff.
export function stream(onEvent, onState) {
  let stopped = false;
  let delayMs = 500;
  let controller;
  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch('/ui/api/events', { headers: headers(), cache: 'no-store', signal: controller.signal });
        if (response.status === 403) {
          onDenied(await response.text());
          onState('denied');
          return;
        }
        if (!response.ok || response.body === null) throw new Error('status ' + response.status);
        onState('open');
        delayMs = 500;
        await readEvents(response.body, onEvent);
      } catch (error) {
        if (stopped) return;
      }
      onState('closed');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 8000);
    }
  };
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data !== '') onEvent(name, JSON.parse(data));
    }
  }
}
`;
