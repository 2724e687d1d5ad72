#!/usr/bin/env bash
# npm run test:valgrind: the suites that exercise the native layer most
# directly, under valgrind's memcheck. Every process (vitest, its forks, the
# children tests start) runs under memcheck and logs to its own file; the
# run fails if any log reports an error (invalid read or write, use of
# uninitialised memory, bad free), naming the log. Leaks are not counted:
# Node keeps much of its heap to exit. scripts/valgrind.supp lists the one
# report Node's own garbage collector makes, and why.
#
# About 20x slower than a plain run, so it takes a list: arguments replace
# the default suites, e.g. npm run test:valgrind -- test/pump.
#
# Needs valgrind (Debian package valgrind) and a built addon (npm ci).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v valgrind >/dev/null 2>&1; then
  echo "test:valgrind: valgrind is not installed (Debian: apt-get install valgrind)" >&2
  exit 1
fi

# test/fd-flags is left out: its SIGPIPE cases check how a signal's default
# disposition kills a child, and valgrind handles signals itself.
suites=(
  test/native-errors test/bad-arguments test/pump test/waker
  test/tcp test/udp test/unix test/poll-registration test/poll-events
)
if [ "$#" -gt 0 ]; then suites=("$@"); fi

npm run build:ts >/dev/null
logs="$(mktemp -d "${TMPDIR:-/tmp}/edgeloop-valgrind.XXXXXX")"
echo "test:valgrind: ${suites[*]} (logs in $logs)"

# --smc-check: V8 writes and rewrites machine code in anonymous memory.
# One test file at a time, long timeouts, and the tests' own hang guards
# (test/waits.ts) stretched: everything is far slower.
status=0
EDGELOOP_TEST_SLOWDOWN=20 valgrind --tool=memcheck --trace-children=yes --smc-check=all-non-file \
  --suppressions="$root/scripts/valgrind.supp" \
  --leak-check=no --track-origins=no --num-callers=30 \
  --log-file="$logs/memcheck.%p.log" \
  node node_modules/vitest/vitest.mjs run --no-file-parallelism \
  --testTimeout 300000 --hookTimeout 300000 "${suites[@]}" || status=$?

errors=0
for log in "$logs"/memcheck.*.log; do
  n="$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)"
  if [ -z "$n" ]; then
    # A process that exec'd another program or was killed writes no summary.
    continue
  fi
  if [ "$n" -gt 0 ]; then
    echo "test:valgrind: $n memcheck error(s) in $log:" >&2
    grep -m 40 -E '^==[0-9]+== ( |Invalid|Conditional|Use of|Mismatched|Syscall param|Source and destination)' "$log" >&2 || true
    errors=$((errors + n))
  fi
done

if [ "$errors" -gt 0 ]; then
  echo "test:valgrind: FAILED: $errors memcheck error(s)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "test:valgrind: FAILED: the suites failed under valgrind (exit $status)" >&2
  exit "$status"
fi
echo "test:valgrind: passed: no memcheck errors in $(ls "$logs" | wc -l) processes"
rm -rf "$logs"
