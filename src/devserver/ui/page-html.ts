/**
 * The page's HTML: four views (keys, live changes, services, faults) as tab panels, the token form for
 * ACL mode and the delete confirmation; the scripts fill them in.
 * @module
 */

/** `/ui/` */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>consul-hotreload dev server</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
<script type="module" src="js/main.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
  <h1>consul-hotreload <span class="sub">dev server</span></h1>
  <p class="conn" role="status" aria-live="polite"><span id="conn-dot" class="dot" aria-hidden="true"></span><span id="conn-text">Connecting…</span></p>
  <dl class="summary">
    <div><dt>KV index</dt><dd id="sum-index">–</dd></div>
    <div><dt>Held queries</dt><dd id="sum-held">–</dd></div>
    <div><dt>Leader</dt><dd id="sum-leader">–</dd></div>
    <div><dt>Faults</dt><dd id="sum-faults">–</dd></div>
  </dl>
</header>
<form id="token-form" class="token" hidden>
  <h2>ACLs are on</h2>
  <p>This server needs its management token. The page keeps it in memory only and sends it in the
  <code>X-Consul-Token</code> header; reloading the page forgets it.</p>
  <label for="token-input">ACL token</label>
  <input id="token-input" type="password" autocomplete="off" required>
  <button type="submit">Use token</button>
  <p id="token-error" class="error" role="alert"></p>
</form>
<nav class="tabs" aria-label="Views">
  <div role="tablist" id="tablist">
    <button type="button" role="tab" id="tab-kv" aria-controls="view-kv" aria-selected="true">Keys</button>
    <button type="button" role="tab" id="tab-live" aria-controls="view-live" aria-selected="false" tabindex="-1">Live changes</button>
    <button type="button" role="tab" id="tab-services" aria-controls="view-services" aria-selected="false" tabindex="-1">Services</button>
    <button type="button" role="tab" id="tab-faults" aria-controls="view-faults" aria-selected="false" tabindex="-1">Faults</button>
  </div>
</nav>
<main id="main" tabindex="-1">
<p id="page-error" class="error" role="alert"></p>

<section id="view-kv" role="tabpanel" aria-labelledby="tab-kv" class="view">
  <div class="kv">
    <div class="kv-side">
      <form id="kv-prefix-form" class="row">
        <label for="kv-prefix">Prefix</label>
        <input id="kv-prefix" type="text" spellcheck="false" placeholder="all keys">
        <button type="submit">Show</button>
      </form>
      <div class="row">
        <button type="button" id="kv-new">New key</button>
        <button type="button" id="kv-delete-folder" disabled>Delete folder…</button>
      </div>
      <p id="kv-count" class="muted"></p>
      <ul id="kv-tree" role="tree" aria-label="Keys"></ul>
    </div>
    <div class="kv-main" id="kv-detail">
      <h2 id="kv-title">No key selected</h2>
      <p id="kv-hint" class="muted">Choose a key in the tree, or create one.</p>
      <div id="kv-entry" hidden>
        <dl class="meta">
          <div><dt>Format</dt><dd id="kv-format">–</dd></div>
          <div><dt>Size</dt><dd id="kv-size">–</dd></div>
          <div><dt>Flags</dt><dd id="kv-flags">–</dd></div>
          <div><dt>CreateIndex</dt><dd id="kv-create-index">–</dd></div>
          <div><dt>ModifyIndex</dt><dd id="kv-modify-index">–</dd></div>
          <div><dt>LockIndex</dt><dd id="kv-lock-index">–</dd></div>
          <div><dt>Session</dt><dd id="kv-session">–</dd></div>
        </dl>
        <pre id="kv-view" class="value" tabindex="0" aria-label="Stored value"></pre>
        <div class="row">
          <button type="button" id="kv-edit">Edit</button>
          <button type="button" id="kv-delete" class="danger">Delete…</button>
        </div>
      </div>
      <form id="kv-form" hidden>
        <div class="field" id="kv-key-field">
          <label for="kv-key">Key</label>
          <input id="kv-key" type="text" spellcheck="false" required>
        </div>
        <div class="field">
          <label for="kv-value">Value</label>
          <textarea id="kv-value" rows="12" spellcheck="false"></textarea>
        </div>
        <div class="field small">
          <label for="kv-flags-input">Flags</label>
          <input id="kv-flags-input" type="text" inputmode="numeric" value="0">
        </div>
        <p id="kv-cas-note" class="muted"></p>
        <div class="row">
          <button type="submit" id="kv-save" class="primary">Save</button>
          <button type="button" id="kv-cancel">Cancel</button>
        </div>
      </form>
      <p id="kv-message" role="status" aria-live="polite"></p>
    </div>
  </div>
</section>

<section id="view-live" role="tabpanel" aria-labelledby="tab-live" class="view" hidden>
  <form class="row" id="live-form">
    <label for="live-filter">Only keys starting with</label>
    <input id="live-filter" type="text" spellcheck="false">
    <button type="button" id="live-pause" aria-pressed="false">Pause</button>
    <button type="button" id="live-clear">Clear</button>
  </form>
  <dl class="meta">
    <div><dt>Blocking KV queries held</dt><dd id="live-held">–</dd></div>
    <div><dt>Woken by the last write</dt><dd id="live-woken">–</dd></div>
    <div><dt>Wake-ups in all</dt><dd id="live-wakeups">–</dd></div>
    <div><dt>Requests</dt><dd id="live-requests">–</dd></div>
    <div><dt>Connections</dt><dd id="live-connections">–</dd></div>
  </dl>
  <h2>Writes, newest first</h2>
  <div class="log-head" aria-hidden="true"><span>Time</span><span>Index</span><span>Type</span><span>Key</span><span>Woke</span></div>
  <ol id="live-log" class="log" aria-live="polite" aria-relevant="additions" aria-label="Writes"></ol>
  <h2>Held blocking queries</h2>
  <div class="row"><button type="button" id="held-refresh">Refresh</button></div>
  <table class="grid">
    <caption class="sr">Keys and prefixes that blocking queries wait on</caption>
    <thead><tr><th scope="col">Area</th><th scope="col">Waits on</th><th scope="col">Queries</th></tr></thead>
    <tbody id="held-table"></tbody>
  </table>
</section>

<section id="view-services" role="tabpanel" aria-labelledby="tab-services" class="view" hidden>
  <p id="svc-leader" role="status"></p>
  <h2>Services</h2>
  <div id="svc-list"></div>
  <h2>Sessions and locks</h2>
  <table class="grid">
    <caption class="sr">Sessions, their TTL and the keys they lock</caption>
    <thead><tr><th scope="col">Session</th><th scope="col">Name</th><th scope="col">TTL</th><th scope="col">Behavior</th><th scope="col">Checks</th><th scope="col">Locks</th></tr></thead>
    <tbody id="sessions-table"></tbody>
  </table>
</section>

<section id="view-faults" role="tabpanel" aria-labelledby="tab-faults" class="view" hidden>
  <p class="muted">Rehearse an outage: each switch adds a rule that the next matching requests take.
  The page's own live feed never takes a fault; its reads of keys and services do.</p>
  <form id="faults-scope" class="row">
    <label for="fault-prefix">KV faults only for keys starting with</label>
    <input id="fault-prefix" type="text" spellcheck="false" placeholder="any key">
    <label for="fault-method">on</label>
    <select id="fault-method"><option value="GET">reads (GET)</option><option value="PUT">writes (PUT)</option><option value="DELETE">deletes</option></select>
  </form>
  <ul id="fault-switches" class="switches" aria-label="Fault switches"></ul>
  <h2>Active now</h2>
  <div class="row"><button type="button" id="faults-clear">Turn every fault off</button></div>
  <ul id="faults-active" class="plain" aria-live="polite"></ul>
</section>
</main>

<dialog id="confirm" aria-labelledby="confirm-title">
  <form method="dialog">
    <h2 id="confirm-title">Delete?</h2>
    <p id="confirm-text"></p>
    <div class="row">
      <button value="cancel" id="confirm-cancel">Cancel</button>
      <button value="ok" id="confirm-ok" class="danger">Delete</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;
