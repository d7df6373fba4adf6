#!/usr/bin/env bash
# Nightly refresh of a published camera map: download (or reuse) the extract,
# then write the density table and one GeoJSON per commune, atomically.
#
# crontab -e:
#   15 3 * * * /opt/osmcams/examples/osmcams-refresh.sh >>/var/log/osmcams.log 2>&1
set -euo pipefail

REGION=${REGION:-provence-alpes-cote-d-azur}
COMMUNES=${COMMUNES:-/srv/osmcams/communes}          # IGN commune boundaries
POPULATION=${POPULATION:-/srv/osmcams/communes.json} # Etalab COG population
DATA=${DATA:-/srv/osmcams/data}
OUT=${OUT:-/var/www/cameras}

mkdir -p "$DATA" "$OUT"
osmcams download "$REGION" --output-dir "$DATA" --quiet
pbf=$(ls -t "$DATA"/*.osm.pbf | head -n 1)

osmcams count --department 06 --pbf "$pbf" --boundaries "$COMMUNES" \
    --population "$POPULATION" --format csv --output "$OUT/communes.csv" --overwrite --quiet
osmcams count --department 06 --pbf "$pbf" --boundaries "$COMMUNES" \
    --population "$POPULATION" --format json --output "$OUT/communes.json" --overwrite --quiet
osmcams export --department 06 --pbf "$pbf" --boundaries "$COMMUNES" \
    --output-dir "$OUT/geojson" --with-boundary --overwrite --quiet
