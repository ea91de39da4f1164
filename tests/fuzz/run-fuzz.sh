#!/bin/sh
# Runs one libFuzzer target for a fixed time: run-fuzz.sh BINARY SEED_CORPUS WORKDIR SECONDS.
# New inputs go to WORKDIR/corpus (the seed corpus in the source tree is only read); a crash
# is written to WORKDIR/ as crash-<sha1> and makes this exit non-zero, naming the file: copy
# it into tests/fuzz/corpus/NAME/ with the fix, so that the replay test keeps it fixed.
set -eu
bin=$1; seeds=$2; work=$3; secs=$4
mkdir -p "$work/corpus"
echo "fuzz: $(basename "$bin") for ${secs}s, seeds $seeds, new inputs $work/corpus"
set +e
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" 2>"$work/log"
rc=$?
set -e
# The summary (runs, coverage, corpus size) and, on failure, the report.
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' \
        "$work/log" || true
if [ $rc -ne 0 ]; then
        tail -n 60 "$work/log"
        ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null || true
        echo "fuzz: $(basename "$bin") FOUND A PROBLEM (exit $rc); inputs above"
        exit 1
fi
echo "fuzz: $(basename "$bin") found nothing"
