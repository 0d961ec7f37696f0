"""Hold the run page's style sheet, inlined into every page (system fonts: nothing to fetch)."""

from __future__ import annotations

from typing import Final

#: CSS class of each status's colour; statuses of one exit-code class share a hue family.
STATUS_CSS: Final = {
    "imported": "st-imported",
    "already_imported": "st-already",
    "patched": "st-patched",
    "agent_fixed": "st-patched",
    "valid": "st-imported",
    "in_sync": "st-imported",
    "duplicate": "st-neutral",
    "extra": "st-neutral",
    "webhook_failed": "st-webhook",
    "patch_failed": "st-webhook",
    "agent_mismatch": "st-webhook",
    "missing": "st-missing",
    "invalid": "st-invalid",
    "failed": "st-failed",
    "not_attempted": "st-skipped",
    "would_delete": "st-patched",
    "deleted": "st-imported",
    "kept": "st-neutral",
    "delete_failed": "st-failed",
}

CSS: Final = """
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --card: #ffffff; --ink: #1d2330; --muted: #5f6b7a; --line: #dde2e8;
  --ok: #1f8a4c; --ok2: #6cc08b; --ok3: #2e6fd8; --neutral: #9aa5b1; --warn: #d98a00;
  --missing: #b7791f; --invalid: #8b5cf6; --bad: #d64545; --skipped: #7a8594;
  --429: #d64545; --retry: #d98a00; --limit: #1d2330; --flight: #2e6fd8;
  --code: #eef1f5;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171c; --card: #1d2128; --ink: #e6e9ee; --muted: #9aa5b1; --line: #333a44;
    --limit: #e6e9ee; --code: #272c35;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
main, header.top { max-width: 1120px; margin: 0 auto; padding: 0 16px; }
header.top { padding-top: 20px; padding-bottom: 8px; }
h1 { font-size: 1.45rem; margin: 6px 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.05rem; margin: 0 0 10px; }
.verdict {
  display: inline-block; padding: 3px 10px; border-radius: 999px; font-weight: 600;
  font-size: .9rem; color: #fff; background: var(--muted);
}
.exit-0 .verdict { background: var(--ok); }
.exit-1 .verdict { background: var(--warn); }
.exit-2 .verdict, .exit-3 .verdict { background: var(--bad); }
.when { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
section.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px; margin: 14px 0; min-width: 0;
}
section.alert { border-left: 5px solid var(--bad); }
section.alert p { margin: 4px 0; overflow-wrap: anywhere; }
.grid2 {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 14px;
  align-items: start;
}
.grid2 > section.card { margin: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 18px; }
.muted, .note { color: var(--muted); }
.note { font-size: .82rem; margin: 4px 0 0; }
code {
  font: .88em/1.4 ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace;
  background: var(--code); padding: 1px 5px; border-radius: 4px; overflow-wrap: anywhere;
}
ol.next { margin: 0; padding-left: 22px; }
ol.next li { margin: 6px 0; overflow-wrap: anywhere; }
ol.next pre {
  margin: 4px 0; padding: 8px 10px; background: var(--code); border-radius: 6px;
  white-space: pre-wrap; overflow-wrap: anywhere; user-select: all;
}
ol.next pre code { background: none; padding: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td {
  text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
}
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { overflow-wrap: anywhere; min-width: 12ch; }
td.nw, th.nw { white-space: nowrap; }
h2.sub { margin-top: 16px; }
table.facts th { width: 34%; font-weight: 500; }
table.facts td { overflow-wrap: anywhere; }
.bar {
  display: flex; height: 26px; border-radius: 6px; overflow: hidden; background: var(--line);
  margin: 4px 0 12px; gap: 1px;
}
.bar .seg { flex-basis: 0; min-width: 4px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 3px; margin-right: 6px;
  vertical-align: -1px; }
.st-imported { background: var(--ok); fill: var(--ok); stroke: var(--ok); }
.st-already { background: var(--ok2); fill: var(--ok2); stroke: var(--ok2); }
.st-patched { background: var(--ok3); fill: var(--ok3); stroke: var(--ok3); }
.st-neutral { background: var(--neutral); fill: var(--neutral); stroke: var(--neutral); }
.st-webhook { background: var(--warn); fill: var(--warn); stroke: var(--warn); }
.st-missing { background: var(--missing); fill: var(--missing); stroke: var(--missing); }
.st-invalid { background: var(--invalid); fill: var(--invalid); stroke: var(--invalid); }
.st-failed { background: var(--bad); fill: var(--bad); stroke: var(--bad); }
.st-skipped { background: var(--skipped); fill: var(--skipped); stroke: var(--skipped); }
.s-429 { background: var(--429); stroke: var(--429); fill: var(--429); }
.s-retry { background: var(--retry); stroke: var(--retry); fill: var(--retry); }
.s-flight { background: var(--flight); stroke: var(--flight); fill: var(--flight); }
.s-limit { background: var(--limit); stroke: var(--limit); fill: var(--limit); }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: .82rem; color: var(--muted);
  margin-bottom: 6px; }
.plot { display: grid; grid-template-columns: auto 1fr; column-gap: 6px; }
.yaxis { position: relative; width: 4.2ch; height: 150px; font-size: .75rem; color: var(--muted); }
.yaxis span { position: absolute; right: 0; transform: translateY(-50%); white-space: nowrap; }
.plot svg { display: block; width: 100%; height: 150px; overflow: visible; }
.plot .xaxis { grid-column: 2; display: flex; justify-content: space-between; font-size: .75rem;
  color: var(--muted); margin-top: 3px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .area { stroke: none; opacity: .18; }
.levels { display: grid; gap: 6px; }
.level { display: grid; grid-template-columns: 3.5ch 1fr 10ch; gap: 8px; align-items: center; }
.level .name { font-weight: 600; font-size: .85rem; }
.level .track { background: var(--line); border-radius: 4px; height: 14px; overflow: hidden; }
.level .fill { display: block; height: 100%; background: var(--flight); }
.level .value { text-align: right; font-variant-numeric: tabular-nums; font-size: .85rem; }
details { border-top: 1px solid var(--line); padding: 8px 0; }
details:first-of-type { border-top: none; }
summary { cursor: pointer; overflow-wrap: anywhere; }
summary .count { font-weight: 700; margin-right: 6px; font-variant-numeric: tabular-nums; }
summary .tags { color: var(--muted); font-size: .82rem; margin-left: 6px; }
details table { margin-top: 6px; }
footer { max-width: 1120px; margin: 0 auto; padding: 8px 16px 28px; color: var(--muted);
  font-size: .8rem; }
@media (max-width: 560px) {
  body { font-size: 14px; }
  section.card { padding: 12px; }
  /* Tables of many columns become one block per row, each cell named by its column. */
  table.stack, table.stack tbody { display: block; }
  table.stack tr.head { display: none; }
  table.stack tr {
    display: flex; flex-wrap: wrap; gap: 2px 14px; padding: 7px 0;
    border-bottom: 1px solid var(--line);
  }
  table.stack td {
    display: block; border: none; padding: 0; text-align: left; min-width: 0;
    white-space: normal;
  }
  table.stack td:first-child { flex-basis: 100%; font-weight: 600; }
  table.stack td.wrap { flex-basis: 100%; }
  table.stack td[data-label]::before {
    content: attr(data-label) ": "; color: var(--muted); font-weight: 400; font-size: .8rem;
  }
  table.stack td:first-child::before { content: none; }
  /* a card headed by a number says what the number is: "row 4" */
  table.stack td.n:first-child::before {
    content: attr(data-label) " "; color: inherit; font-weight: 600; font-size: inherit;
  }
  table.facts th { width: auto; }
}
"""
