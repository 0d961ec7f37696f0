#!/usr/bin/env bash
# Nightly reconciliation for cron: fix drift between fleet.csv and the Cartesia account.
# FLEET=twilio: (or twilio:AC...) reads the live Twilio account instead of a file, so numbers
# bought in the Twilio console since yesterday are imported too; its credentials come from
# TWILIO_CREDENTIALS (a file holding KEY:SECRET) when it is readable, else from the
# environment (TWILIO_API_KEY + TWILIO_API_SECRET, or TWILIO_AUTH_TOKEN; TWILIO_ACCOUNT_SID).
# Exit code is bulk-import's: 0 in sync, 1 drift left (see the report), 2 bad input or no key
# (a Twilio listing that failed included: nothing is then changed), 3 stopped early (key
# refused, too many failures). The summary JSON feeds dashboards/alerts.
set -uo pipefail
FLEET=${FLEET:-/srv/telephony/fleet.csv}          # the source of truth: a file, or twilio:
OUT=${OUT:-/var/lib/bulk-import}                  # reports and summaries, mode 0600
KEY_FILE=${KEY_FILE:-/etc/bulk-import/api-key}    # never put the key on the command line
AGENT=${AGENT:-}                                  # agent for rows that name none (optional)
TWILIO_CREDENTIALS=${TWILIO_CREDENTIALS:-/etc/bulk-import/twilio-credentials}  # FLEET=twilio:

mkdir -p "$OUT"
stamp=$(date -u +%Y-%m-%d)
args=(reconcile "$FLEET" --apply --quiet --no-progress
      --api-key-file "$KEY_FILE"
      --report "$OUT/reconcile-$stamp.report.csv"
      --summary-json "$OUT/reconcile-$stamp.json")
[ -n "$AGENT" ] && args+=(--agent-id "$AGENT")
if [[ $FLEET == twilio:* && -r $TWILIO_CREDENTIALS ]]; then
  args+=(--twilio-credentials-file "$TWILIO_CREDENTIALS")
fi
bulk-import "${args[@]}"
code=$?
ln -sf "reconcile-$stamp.json" "$OUT/latest.json"
exit $code
