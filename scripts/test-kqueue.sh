#!/usr/bin/env bash
# npm run test:kqueue: builds the kqueue backend (native/selector_kqueue.cc)
# against libkqueue, a kqueue emulation over epoll, and runs the suites that
# apply to it. The build goes to its own folder (build/kqueue/ by default),
# so the epoll build in build/Release is left as it is: node-gyp-build, the
# addon's loader, looks in $EDGELOOP_PREBUILD/build/Release when that
# variable is set, and every test process (workers and children included)
# inherits it.
#
# Environment:
#   LIBKQUEUE_PREFIX          where libkqueue is installed (default /tmp/libkqueue)
#   EDGELOOP_KQUEUE_INCLUDE   its headers, holding sys/event.h (default $LIBKQUEUE_PREFIX/include/kqueue)
#   EDGELOOP_KQUEUE_LIB       its library, libkqueue.so (default $LIBKQUEUE_PREFIX/lib)
#   EDGELOOP_KQUEUE_BUILD     the build folder (default build/kqueue)
# Arguments, when given, replace the default list of suites (focused runs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

prefix="${LIBKQUEUE_PREFIX:-/tmp/libkqueue}"
include="${EDGELOOP_KQUEUE_INCLUDE:-$prefix/include/kqueue}"
lib="${EDGELOOP_KQUEUE_LIB:-$prefix/lib}"
out="${EDGELOOP_KQUEUE_BUILD:-build/kqueue}"
case "$out" in /*) ;; *) out="$root/$out" ;; esac

missing=()
[ -f "$include/sys/event.h" ] || missing+=("headers: $include/sys/event.h")
compgen -G "$lib/libkqueue.so*" >/dev/null || missing+=("library: $lib/libkqueue.so")
if [ "${#missing[@]}" -gt 0 ]; then
  {
    echo "test:kqueue cannot run: libkqueue is not installed where this script looks."
    for m in "${missing[@]}"; do echo "  missing $m"; done
    echo
    echo "libkqueue is not in Debian's archive; build it from its own repository"
    echo "(mheily/libkqueue, cmake) and install it under $prefix:"
    echo "  cmake -S libkqueue -B libkqueue/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$prefix"
    echo "  make -C libkqueue/build -j2 install"
    echo "or point LIBKQUEUE_PREFIX (or EDGELOOP_KQUEUE_INCLUDE and EDGELOOP_KQUEUE_LIB)"
    echo "at an existing install."
  } >&2
  exit 1
fi

# The suites the kqueue backend is held to (the README's Platforms list):
# the poll conformance suite and the run()-mode EventLoop tests. Tests that
# libkqueue cannot pass are marked onLibkqueue in test/platform.ts.
suites=(
  test/smoke test/poll- test/waker test/tcp test/udp test/unix test/readiness test/close
  test/bad-arguments test/zero-alloc test/fd-leak test/slab test/timers test/event-loop test/workers test/emfile
)
if [ "$#" -gt 0 ]; then suites=("$@"); fi

echo "test:kqueue: building the kqueue backend in $out (libkqueue from $prefix)"
rm -rf "$out"
mkdir -p "$out"
cp binding.gyp "$out/"
cp -R native "$out/"
(
  cd "$out"
  EDGELOOP_BACKEND=kqueue EDGELOOP_KQUEUE_INCLUDE="$include" EDGELOOP_KQUEUE_LIB="$lib" \
    "$root/node_modules/.bin/node-gyp" rebuild
)
npm run build:ts

export EDGELOOP_BACKEND=kqueue
export EDGELOOP_PREBUILD="$out"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Refuse to report on the wrong build: the loaded addon must be the kqueue one.
loaded="$(node -p "require('./dist/index.js').backend")"
if [ "$loaded" != kqueue ]; then
  echo "test:kqueue: the addon loaded from $out reports backend '$loaded', not kqueue" >&2
  exit 1
fi

exec "$root/node_modules/.bin/vitest" run "${suites[@]}"
