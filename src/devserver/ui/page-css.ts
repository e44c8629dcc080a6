/**
 * The page's stylesheet: system fonts only, light and dark from the system setting, one column below
 * 760 px wide, visible focus everywhere.
 * @module
 */

/** `/ui/app.css` */
export const PAGE_CSS = `:root {
  color-scheme: light dark;
  --bg: #f7f7f8; --panel: #ffffff; --text: #1b1d21; --muted: #5b6170; --line: #d6d9df;
  --accent: #1f5fbf; --accent-text: #ffffff; --ok: #1b7f3b; --warn: #9a6100; --bad: #b3261e;
  --focus: #ff9e1b; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #15171b; --panel: #1e2127; --text: #e8eaed; --muted: #a3a9b5; --line: #363a43;
    --accent: #7aa7ff; --accent-text: #0b1424; --ok: #5fd38d; --warn: #f0b44c; --bad: #ff8a80; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
code, pre, .mono { font-family: var(--mono); font-size: 13px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: 8px; z-index: 10; }
.skip:focus { left: 8px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
[hidden] { display: none !important; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; padding: 10px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
.top h1 { font-size: 18px; margin: 0; }
.top .sub { color: var(--muted); font-weight: normal; }
.conn { margin: 0; display: flex; align-items: center; gap: 6px; color: var(--muted); }
.dot { width: 10px; height: 10px; border-radius: 50%; background: var(--warn); display: inline-block; }
.dot.on { background: var(--ok); }
.dot.off { background: var(--bad); }
.summary { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 0 auto; }
.summary div, .meta div { display: flex; gap: 6px; }
.summary dt, .meta dt { color: var(--muted); }
.summary dd, .meta dd { margin: 0; font-family: var(--mono); }
.tabs { background: var(--panel); border-bottom: 1px solid var(--line); padding: 0 12px; overflow-x: auto; }
[role=tablist] { display: flex; gap: 2px; }
[role=tab] { white-space: nowrap; border: 0; background: none; color: var(--text); padding: 10px 14px; font: inherit; cursor: pointer; border-bottom: 3px solid transparent; }
[role=tab][aria-selected=true] { border-bottom-color: var(--accent); font-weight: 600; }
main { padding: 16px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
h2 { font-size: 16px; margin: 18px 0 8px; }
.view > h2:first-child { margin-top: 0; }
.row { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 8px 0; }
button, select, input, textarea { font: inherit; color: inherit; }
button { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 5px 12px; cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
input[type=text], input[type=password], input[type=number], select, textarea { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 5px 8px; min-width: 0; }
textarea { width: 100%; font-family: var(--mono); font-size: 13px; }
.field { display: flex; flex-direction: column; gap: 4px; margin: 10px 0; }
.field.small input { max-width: 16em; }
.muted { color: var(--muted); }
.error { color: var(--bad); margin: 0; }
.error:empty { display: none; }
.ok { color: var(--ok); }
.token { max-width: 560px; margin: 24px auto; padding: 16px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; display: grid; gap: 8px; }
.token h2 { margin: 0; }
.kv { display: grid; grid-template-columns: minmax(240px, 1fr) 2fr; gap: 16px; }
.kv-side, .kv-main { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; min-width: 0; }
.kv-main h2 { margin-top: 0; word-break: break-all; font-family: var(--mono); }
#kv-prefix { flex: 1; }
[role=tree], [role=group] { list-style: none; margin: 0; padding: 0; }
[role=group] { padding-left: 16px; }
[role=treeitem] > .label { display: block; padding: 2px 6px; border-radius: 4px; cursor: pointer; font-family: var(--mono); font-size: 13px; word-break: break-all; }
[role=treeitem][aria-expanded] > .label::before { content: "▸ "; color: var(--muted); }
[role=treeitem][aria-expanded=true] > .label::before { content: "▾ "; }
[role=treeitem][aria-selected=true] > .label { background: var(--accent); color: var(--accent-text); }
[role=treeitem]:focus { outline: none; }
[role=treeitem]:focus > .label { outline: 3px solid var(--focus); }
.flash > .label { animation: flash 1.2s ease-out; }
@keyframes flash { from { background: var(--warn); } }
.meta { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 8px 0; }
pre.value { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; max-height: 55vh; white-space: pre-wrap; word-break: break-word; margin: 8px 0; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.st-passing { color: var(--ok); } .st-warning { color: var(--warn); } .st-critical { color: var(--bad); }
.log { list-style: none; margin: 0; padding: 0; max-height: 50vh; overflow: auto; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); }
.log li, .log-head { display: grid; grid-template-columns: 7em 5em 5em 1fr 4em; gap: 8px; padding: 3px 8px; font-family: var(--mono); font-size: 13px; }
.log li + li { border-top: 1px solid var(--line); }
.log-head { color: var(--muted); font-family: inherit; }
.log .k { word-break: break-all; }
.op-delete { color: var(--bad); } .op-create { color: var(--ok); }
table.grid { border-collapse: collapse; width: 100%; background: var(--panel); }
.grid th, .grid td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; word-break: break-word; }
.svc { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin: 0 0 12px; }
.svc h3 { margin: 0 0 6px; font-size: 15px; }
.inst { border-top: 1px solid var(--line); padding: 8px 0; }
.inst-head { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; }
.checks { list-style: none; margin: 6px 0 0; padding: 0; }
.checks li { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; padding: 3px 0; }
.checks .out { color: var(--muted); font-family: var(--mono); font-size: 12px; flex-basis: 100%; }
.switches { list-style: none; padding: 0; margin: 8px 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 8px; }
.switches li { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; }
.switches .what { flex: 1 1 100%; color: var(--muted); font-size: 13px; margin: 0; }
[role=switch] { display: inline-flex; align-items: center; gap: 8px; }
[role=switch]::before { content: ""; flex: none; width: 32px; height: 18px; border-radius: 9px; background: var(--line) radial-gradient(circle at 9px 50%, #fff 6px, transparent 7px); }
[role=switch][aria-checked=true]::before { background: var(--bad) radial-gradient(circle at 23px 50%, #fff 6px, transparent 7px); }
[role=switch][aria-checked=true] { border-color: var(--bad); }
ul.plain { list-style: none; padding: 0; }
ul.plain li { padding: 4px 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
dialog { border: 1px solid var(--line); border-radius: 8px; background: var(--panel); color: var(--text); max-width: min(90vw, 520px); }
dialog::backdrop { background: rgba(0, 0, 0, .4); }
@media (max-width: 760px) {
  .kv { grid-template-columns: 1fr; }
  .summary { margin-left: 0; }
  .log li, .log-head { grid-template-columns: 5em 1fr 3em; }
  .log li .t, .log-head span:nth-child(5) { display: none; }
  .log li .ty, .log-head span:nth-child(3) { display: none; }
  .switches { grid-template-columns: 1fr; }
  main { padding: 10px; }
}
`;
