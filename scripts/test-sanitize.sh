#!/usr/bin/env bash
# npm run test:sanitize: builds the addon with clang and
# -fsanitize=address,undefined in its own folder (build/sanitize/ by
# default; build/Release is left as it is), then runs test suites against
# that build with the ASan runtime preloaded into every node process, and
# fails if any process reported anything: a memory error, undefined
# behaviour, or a leak that scripts/lsan.supp does not name.
#
# node is not built with ASan, so its runtime has to be loaded before
# anything else (LD_PRELOAD); the addon is linked against the shared runtime
# (-shared-libasan) and resolves its checks from it. node-gyp-build, the
# addon's loader, looks in $EDGELOOP_PREBUILD/build/Release when that
# variable is set, so vitest's workers and every child process a test starts
# load the sanitized build too.
#
# Every sanitizer report goes to a file under the report folder as well as
# killing the process that made it: a test that spawns a child and ignores
# how it died cannot hide one.
#
# Usage:
#   npm run test:sanitize                  # the fuzzer and the default suites (below)
#   npm run test:sanitize -- --quick       # the fuzzer and the argument suites (what CI runs)
#   npm run test:sanitize -- --all         # the fuzzer and the whole vitest suite
#   npm run test:sanitize -- test/pump     # these suites only (vitest filters), no fuzzer
#   npm run test:sanitize -- --fuzz-only   # the fuzzer only (FUZZ_ITERATIONS calls)
#
# Environment:
#   EDGELOOP_SANITIZE_BUILD   the build folder (default build/sanitize)
#   EDGELOOP_SANITIZE_REPORTS where reports are written (default build/sanitize/reports)
#   CLANG, CLANGXX            the compilers (default: clang/clang++, else clang-14/clang++-14)
#   FUZZ_ITERATIONS           calls for the fuzzer run (default 200000)
#   FUZZ_SEED                 its seed (default 1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

out="${EDGELOOP_SANITIZE_BUILD:-build/sanitize}"
case "$out" in /*) ;; *) out="$root/$out" ;; esac
reports="${EDGELOOP_SANITIZE_REPORTS:-$out/reports}"
case "$reports" in /*) ;; *) reports="$root/$reports" ;; esac

pick() {
  for c in "$@"; do
    if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then echo "$c"; return 0; fi
  done
  return 1
}
cc="$(pick "${CLANG:-}" clang clang-14)" || {
  echo "test:sanitize: clang not found (apt-get install clang-14 libclang-rt-14-dev, or set CLANG)" >&2
  exit 1
}
cxx="$(pick "${CLANGXX:-}" clang++ clang++-14)" || {
  echo "test:sanitize: clang++ not found (set CLANGXX)" >&2
  exit 1
}
runtime="$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)"
if [ ! -f "$runtime" ]; then
  echo "test:sanitize: the ASan runtime is missing ($runtime); apt-get install libclang-rt-14-dev" >&2
  exit 1
fi

# The suites that reach the addon hardest: argument checks, every socket
# kind, the poll, the pump and the waker, workers (addon instances torn down
# with their environment), and the fuzzer's own test.
suites=(
  test/native-errors test/bad-arguments test/fuzz-native test/smoke test/poll- test/waker
  test/tcp test/udp test/unix test/readiness test/close test/pump test/write-queue
  test/event-loop-data test/event-loop-writes test/event-loop-close test/workers test/fd-leak
)
# The suites that call the addon with bad arguments, the pump and the
# waker, and workers: the quick set, for CI.
quick=(test/native-errors test/bad-arguments test/fuzz-native test/pump test/waker test/workers)
fuzz=1
vitest=1
case "${1:-}" in
  --fuzz-only) vitest=0 ;;
  # All but test/package: it packs the package and compiles the addon with
  # g++ inside the test, and a compiler under the ASan runtime takes minutes
  # and reports its own leaks; what it loads is that g++ prebuild, not this
  # build.
  --all) suites=(--exclude test/package.test.ts) ;;
  --quick) suites=("${quick[@]}") ;;
  "") ;;
  *) suites=("$@"); fuzz=0 ;;
esac

# node-gyp finds the headers through npm's nodedir setting; outside npm, ask npm.
if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir="$(npm config get nodedir 2>/dev/null || true)"
  if [ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ]; then
    export npm_config_nodedir="$nodedir"
  fi
fi

SECONDS=0
echo "test:sanitize: building the addon with $cxx -fsanitize=address,undefined in $out"
rm -rf "$out"
mkdir -p "$out"
cp binding.gyp "$out/"
cp -R native "$out/"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
(
  cd "$out"
  CC="$cc" CXX="$cxx" LINK="$cxx" CFLAGS="$sanitize" CXXFLAGS="$sanitize" \
    LDFLAGS="-fsanitize=address,undefined -shared-libasan" \
    "$root/node_modules/.bin/node-gyp" rebuild >"$out/build.log" 2>&1
) || {
  tail -40 "$out/build.log" >&2
  echo "test:sanitize: the sanitized build failed (log: $out/build.log)" >&2
  exit 1
}
npm run build:ts >/dev/null

rm -rf "$reports"
mkdir -p "$reports"
export EDGELOOP_PREBUILD="$out"
export LD_PRELOAD="$runtime${LD_PRELOAD:+:$LD_PRELOAD}"
# One log_path for both: UBSan's reports land there too (its options are
# read after ASan's and share the sanitizer-common flags).
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86:log_path=$reports/report:detect_stack_use_after_return=0:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86:log_path=$reports/report"
# Every process a test starts inherits LD_PRELOAD, node or not; leaks of the
# programs that are not node (which never load the addon) are suppressed by
# module in lsan.supp. Commands of this script after this point are node only.
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"

# Refuse to report on the wrong build: the loaded addon must be this one,
# and the ASan runtime must be live in the process that loads it.
loaded="$(node -p "require('node-gyp-build').resolve('.')")"
if [ "$loaded" != "$out/build/Release/edgeloop.node" ]; then
  echo "test:sanitize: node-gyp-build loads $loaded, not the sanitized build" >&2
  exit 1
fi
node -e "require('./dist/native.js')" || {
  echo "test:sanitize: the sanitized addon does not load" >&2
  exit 1
}

status=0
if [ "$fuzz" = 1 ]; then
  echo "test:sanitize: fuzzing the native exports (${FUZZ_ITERATIONS:-200000} calls, seed ${FUZZ_SEED:-1})"
  node scripts/fuzz-native.js --quiet --iterations "${FUZZ_ITERATIONS:-200000}" --seed "${FUZZ_SEED:-1}" || status=$?
fi
if [ "$vitest" = 1 ]; then
  "$root/node_modules/.bin/vitest" run "${suites[@]}" || status=$?
fi

# The reports are read with programs that need no sanitizer.
unset LD_PRELOAD
elapsed=$SECONDS
found=0
for f in "$reports"/report*; do
  [ -s "$f" ] || continue
  found=$((found + 1))
  echo "=== sanitizer report: $f" >&2
  head -60 "$f" >&2
done
if [ "$found" -gt 0 ]; then
  echo "test:sanitize: $found process(es) reported errors (files in $reports)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "test:sanitize: tests failed (status $status) after ${elapsed}s" >&2
  exit "$status"
fi
echo "test:sanitize: no sanitizer reports; ${elapsed}s in all"
