#!/bin/sh
# Runs every libFuzzer harness in BUILD for SECONDS each, from its seed corpus
# (fuzz/corpus/<name>/).
#
# Exits 0 when no harness crashed, 1 when one did (its last log lines are
# printed and the crashing input is kept as BUILD/fuzz-artifacts/<name>/crash-*;
# replay it with `BUILD/fuzz/fuzz-<name> FILE`), 2 on a usage error or when
# BUILD holds no harness. Everything else it makes (a working corpus, logs,
# the harnesses' data dirs, which it points TMPDIR at) lives in one temporary
# directory, removed on exit whatever happens.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD-DIR SECONDS" >&2
    exit 2
fi
build=$1 seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)

# /dev/shm when there is one: harnesses that open a database fsync a lot.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
scratch=$(mktemp -d "$base/skiff-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

status=0 ran=0
for f in "$build"/fuzz/fuzz-*; do
    [ -x "$f" ] && [ -f "$f" ] || continue
    name=$(basename "$f")
    short=${name#fuzz-}
    ran=$((ran + 1))
    corpus="$scratch/$short/corpus" tmp="$scratch/$short/tmp" log="$scratch/$short/log"
    artifacts="$build/fuzz-artifacts/$short"
    mkdir -p "$corpus" "$tmp" "$artifacts"
    if [ -d "$root/fuzz/corpus/$short" ]; then
        cp -R "$root/fuzz/corpus/$short"/. "$corpus"/
    fi
    echo "fuzz: $name for ${seconds}s"
    if TMPDIR="$tmp" "$f" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=25 -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -1 "$log"
        # A harness that ends normally must clean up after itself.
        if [ -n "$(ls -A "$tmp")" ]; then
            echo "fuzz: $name FAILED: it left files in its TMPDIR:" $(ls -A "$tmp")
            status=1
        fi
    else
        tail -60 "$log"
        echo "fuzz: $name FAILED; the input is kept in $artifacts/"
        status=1
    fi
    rmdir "$artifacts" "$build/fuzz-artifacts" 2>/dev/null || true
done
if [ $ran -eq 0 ]; then
    echo "fuzz: no harness in $build/fuzz (configure with -Dfuzz=true and CC=clang)" >&2
    exit 2
fi
exit $status
