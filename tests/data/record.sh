#!/bin/sh
# Re-record the event logs in this folder with the kmon installed in the project's
# venv. Run from anywhere; the logs are written next to this file.
set -u
here=$(cd "$(dirname "$0")" && pwd)
kmon=${KMON:-"$here/../../.venv/bin/kmon"}
export TF_CPP_MIN_LOG_LEVEL=3
cd /tmp || exit 1
rm -f "$here/two_fits.jsonl" "$here/failed.jsonl" "$here/three_heads.jsonl"
"$kmon" train --headless --eval-train --log "$here/two_fits.jsonl" "$here/scripts/two_fits.py"
# This one exits 1 on purpose: the script raises after one epoch.
"$kmon" train --headless --log "$here/failed.jsonl" "$here/scripts/failed.py"
"$kmon" train --headless --log "$here/three_heads.jsonl" "$here/scripts/three_heads.py"
rm -f "$here/alarms.jsonl"
"$kmon" train --headless --log "$here/alarms.jsonl" "$here/scripts/alarms.py"
ls -l "$here"/*.jsonl
