#!/usr/bin/env bash
# Nightly reconciliation for cron: fix drift between fleet.csv and the Cartesia account.
# Exit code is bulk-import's: 0 in sync, 1 drift left (see the report), 2 bad input or no key,
# 3 stopped early (key refused, too many failures). The summary JSON feeds dashboards/alerts.
set -uo pipefail
FLEET=${FLEET:-/srv/telephony/fleet.csv}          # the source of truth
OUT=${OUT:-/var/lib/bulk-import}                  # reports and summaries, mode 0600
KEY_FILE=${KEY_FILE:-/etc/bulk-import/api-key}    # never put the key on the command line
AGENT=${AGENT:-}                                  # agent for rows that name none (optional)

mkdir -p "$OUT"
stamp=$(date -u +%Y-%m-%d)
args=(reconcile "$FLEET" --apply --quiet --no-progress
      --api-key-file "$KEY_FILE"
      --report "$OUT/reconcile-$stamp.report.csv"
      --summary-json "$OUT/reconcile-$stamp.json")
[ -n "$AGENT" ] && args+=(--agent-id "$AGENT")
bulk-import "${args[@]}"
code=$?
ln -sf "reconcile-$stamp.json" "$OUT/latest.json"
exit $code
