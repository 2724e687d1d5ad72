// kqueue backend, the wait: kevents read and turned into one ReadyEvent
// per fd per batch, and the bookkeeping oneshot needs across two filters.
// The rest of the backend (and why it keeps a registration table) is in
// selector_kqueue.cc.
#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>

#include "selector.h"
#include "selector_kqueue.h"

namespace edgeloop {

namespace {

// A kevent to readiness bits (docs/POLL-SEMANTICS.md rule 14, as mio 1.x
// reads it). EV_EOF on a socket carries its pending error, if any, in
// fflags.
uint32_t Readiness(const struct kevent& ev) {
  bool eof = (ev.flags & EV_EOF) != 0;
  uint32_t r = 0;
  if (ev.filter == EVFILT_READ) r |= kReadable | (eof ? kReadClosed : 0u);
  if (ev.filter == EVFILT_WRITE) r |= kWritable | (eof ? kWriteClosed : 0u);
  if ((ev.flags & EV_ERROR) || (eof && ev.fflags != 0)) r |= kError;
  return r;
}

}  // namespace

int Selector::Select(ReadyEvent* out, int capacity, int timeout_ms) {
  if (fd_ < 0) return -EBADF;
  size_t need = static_cast<size_t>(capacity) * sizeof(struct kevent);
  if (scratch_.size() < need) scratch_.resize(need);
  auto* evs = reinterpret_cast<struct kevent*>(scratch_.data());

  struct timespec ts;
  const struct timespec* wait = nullptr;  // -1: no timeout at all
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long>(timeout_ms % 1000) * 1000000L;
    wait = &ts;
  }
  int n = kevent(fd_, nullptr, 0, evs, capacity, wait);
  if (n < 0) {
    // Policy (docs/POLL-SEMANTICS.md rule 18): a signal ends the wait with 0
    // events.
    return errno == EINTR ? 0 : -errno;
  }

  // Pass 1: one event per fd. A fd's READ and WRITE kevents merge into the
  // slot the first of them took; an event for a disarmed oneshot (its other
  // filter, queued before the disable below reached the kernel) is dropped.
  int count = 0;
  for (int i = 0; i < n; i++) {
    const struct kevent& ev = evs[i];
    if (ev.filter == EVFILT_USER) {
      if (has_waker_) out[count++] = ReadyEvent{waker_token_, kReadable};
      continue;
    }
    Registration* reg = FindRegistration(registrations_, ev.ident);
    if (reg == nullptr) continue;
    uint32_t bits = Readiness(ev);
    if (reg->batch_slot >= 0) {
      out[reg->batch_slot].readiness |= bits;
      continue;
    }
    if (!reg->armed) continue;
    if (reg->opts & kOptOneshot) reg->armed = false;
    reg->batch_slot = count;
    out[count++] = ReadyEvent{reg->token, bits};
  }

  // Pass 2: clear the batch slots, and for each oneshot that fired on one
  // filter only, disable the other so it cannot wake later polls. The
  // changes are written over kevents already read (at most one per fd, so
  // change k never passes event i), and applied in one call. Their errors
  // are ignored: ENOENT means that filter fired too, and any other failure
  // leaves a filter whose events the armed flag drops anyway.
  int changes = 0;
  for (int i = 0; i < n; i++) {
    if (evs[i].filter == EVFILT_USER) continue;
    int fd = static_cast<int>(evs[i].ident);
    Registration* reg = FindRegistration(registrations_, evs[i].ident);
    if (reg == nullptr || reg->batch_slot < 0) continue;
    uint32_t seen = out[reg->batch_slot].readiness;
    reg->batch_slot = -1;
    if ((reg->opts & kOptOneshot) == 0) continue;
    if ((reg->interest & kInterestReadable) && !(seen & kReadable)) {
      EV_SET(&evs[changes], fd, EVFILT_READ, EV_DISABLE | EV_RECEIPT, 0, 0, 0);
      changes++;
    } else if ((reg->interest & kInterestWritable) && !(seen & kWritable)) {
      EV_SET(&evs[changes], fd, EVFILT_WRITE, EV_DISABLE | EV_RECEIPT, 0, 0,
             0);
      changes++;
    }
  }
  // The same array takes the receipts (kevent(2) allows it), so this call
  // neither allocates nor collects events that belong to the next poll.
  if (changes > 0) kevent(fd_, evs, changes, evs, changes, nullptr);
  return count;
}

}  // namespace edgeloop
