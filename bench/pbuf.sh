#!/bin/sh
# Persistent buffer insert benchmark (docs/BENCHMARKS.md, "Persistent buffer").
#   bench/pbuf.sh                      # release build, 1M burst + 20k values/s for 10 s
#   PROFILE=dev TOTAL=200000 bench/pbuf.sh
#   PBUF_DIR=/var/lib/zabbix bench/pbuf.sh   # measure the disk the agent will use
set -eu
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then flag=--release; else flag=; fi
cargo build -q $flag --example pbuf_bench
target_dir=${CARGO_TARGET_DIR:-target}
if [ "$PROFILE" = release ]; then out=release; else out=debug; fi
echo "machine: $(nproc) CPUs, $(uname -r); file in ${PBUF_DIR:-${TMPDIR:-/tmp}} ($(df -T "${PBUF_DIR:-${TMPDIR:-/tmp}}" | awk 'NR==2{print $2}'))"
"$target_dir/$out/examples/pbuf_bench"
