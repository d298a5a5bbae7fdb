#!/bin/sh
# Runs every libFuzzer harness in BUILD for SECONDS each, from its seed corpus.
set -eu
build=$1 seconds=$2
status=0
for f in "$build"/fuzz/fuzz-*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    seeds="fuzz/corpus/${name#fuzz-}"
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
    echo "fuzz: $name for ${seconds}s"
    if ! "$f" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 "$work" >"$work.log" 2>&1; then
        tail -50 "$work.log"
        echo "fuzz: $name FAILED"
        status=1
    else
        tail -1 "$work.log"
    fi
    rm -rf "$work" "$work.log"
done
exit $status
