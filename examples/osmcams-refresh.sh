#!/usr/bin/env bash
# Nightly refresh of a published camera map: download (or reuse) the extract,
# then write the density table and one GeoJSON per commune, atomically.
#
# crontab -e:
#   15 3 * * * /opt/osmcams/examples/osmcams-refresh.sh >>/var/log/osmcams.log 2>&1
set -euo pipefail

REGION=${REGION:-osmfr:alpes_maritimes}
DEPARTMENT=${DEPARTMENT:-06}
COMMUNES=${COMMUNES:-/srv/osmcams/communes}          # IGN commune boundaries
POPULATION=${POPULATION:-/srv/osmcams/communes.json} # Etalab COG population
DATA=${DATA:-/srv/osmcams/data}
OUT=${OUT:-/var/www/cameras}

mkdir -p "$DATA" "$OUT"
pbf=$(osmcams download "$REGION" --dest "$DATA" --quiet)

osmcams count --department "$DEPARTMENT" --pbf "$pbf" --boundaries "$COMMUNES" \
    --population "$POPULATION" --format csv --output "$OUT/communes.csv" --overwrite --quiet
osmcams count --department "$DEPARTMENT" --pbf "$pbf" --boundaries "$COMMUNES" \
    --population "$POPULATION" --format json --output "$OUT/communes.json" --overwrite --quiet
osmcams export --department "$DEPARTMENT" --pbf "$pbf" --boundaries "$COMMUNES" \
    --output-dir "$OUT/geojson" --with-boundary --overwrite --quiet
