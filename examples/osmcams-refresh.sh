#!/usr/bin/env bash
# Kept for old crontabs: refresh now does the whole job (diffs, outputs, history, lock).
#   crontab -e:  17 * * * * /opt/osmcams/examples/osmcams-refresh.sh
# See examples/osmcams.toml for the configuration.
# cron's PATH is /usr/bin:/bin: the osmcams of the checkout's venv (.venv, beside examples/),
# unless OSMCAMS names another.
exec "${OSMCAMS:-$(dirname "$0")/../.venv/bin/osmcams}" refresh \
    --config "${OSMCAMS_CONFIG:-/etc/osmcams/osmcams.toml}" --quiet "$@"
