#!/bin/sh
# Static analysis in CI (issue 11): Debian's cppcheck over the daemon's and the CLI's sources.
# Usage: cppcheck.sh SOURCE_ROOT. Exit 0 only when cppcheck reports nothing; every finding is
# printed as file:line:column. False positives are listed, each with its reason, in
# tests/reliability/cppcheck.supp (or suppressed inline with a comment saying why).
# warning: real bugs (uninitialised data, bad frees, wrong format strings...); portability:
# code whose meaning depends on the platform. style/performance are not enabled: they are
# taste, not defects.
set -eu
cd "$1"
jobs=$(nproc 2>/dev/null || echo 2)
echo "cppcheck $(cppcheck --version | cut -d' ' -f2): core ingest normalize rules seal outputs cli"
exec cppcheck -q -j"$jobs" --error-exitcode=1 --enable=warning,portability --inline-suppr \
        --suppressions-list=tests/reliability/cppcheck.supp -D_GNU_SOURCE -I. \
        --template='{file}:{line}:{column}: {severity} [{id}]: {message}' \
        core ingest normalize rules seal outputs cli
