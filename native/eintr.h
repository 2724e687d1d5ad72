// The one EINTR policy for syscalls that only move data or take a
// connection: a signal that lands mid-call retries it, so callers never see
// EINTR. Calls with other rules keep their own handling: close (never
// retried), connect (reported as EINPROGRESS) and the selector waits (a
// signal ends the wait with 0 events, docs/POLL-SEMANTICS.md rule 18).
#ifndef EDGELOOP_EINTR_H_
#define EDGELOOP_EINTR_H_

#include <errno.h>

namespace edgeloop {

// Calls `call` until it returns something other than a failure with EINTR.
// `call` returns a negative value and sets errno when it fails, as a raw
// syscall does; errno is left as the last call set it.
template <typename Call>
inline auto RetryOnEintr(Call call) -> decltype(call()) {
  decltype(call()) r;
  do r = call();
  while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace edgeloop

#endif  // EDGELOOP_EINTR_H_
