// Pump, the read half of a turn: one record per ready event, with the
// bytes of each readable pumped connection read into the read arena (see
// pump.h for the record layout).
#include <errno.h>
#include <unistd.h>

#include "eintr.h"
#include "pump.h"

namespace edgeloop {

namespace {

constexpr uint32_t kReadEvents = kReadable | kReadClosed | kError;

}  // namespace

// One record per ready event; pumped connections that asked for it are read
// until would-block, EOF, their budget or a short read (level-triggered: what
// is left is reported again next turn).
uint32_t Pump::ReadReady(const Arrays& a, int events, uint32_t out, size_t cursor) {
  for (int e = 0; e < events; e++) {
    const ReadyEvent& ev = ready_[e];
    // The eventfd's edge: the turn reaped the completions already. Only
    // while attached, so a user's own registration with that token on the
    // same poll is not swallowed.
    if (attached_ && ev.token == kRingToken) continue;
    Conn* c = Find(ev.token);
    uint32_t flags = ev.readiness;
    // The ring reads it: the selector only reports its writes and errors.
    if (c != nullptr && (RingReads(c) || c->recv != kRecvIdle)) {
      flags &= ~(kReadable | kReadClosed);
      if (flags == 0) continue;
    }
    uint32_t* rec = a.records + (out++) * kRecordWords;
    if (c == nullptr) {
      PutRecord(rec, ev.token, ev.readiness | kRecRaw, 0, 0, 0);
      continue;
    }
    if (!c->auto_read || (ev.readiness & kReadEvents) == 0 ||
        (c->interest & kInterestReadable) == 0) {
      PutRecord(rec, ev.token, flags, 0, 0, 0);
      continue;
    }
    size_t budget = a.read_size - cursor;
    if (budget > read_budget_) budget = read_budget_;
    if (budget == 0) {
      PutRecord(rec, ev.token, flags | kRecSkipped, 0, 0, 0);
      continue;
    }
    size_t got = 0;
    uint32_t err = 0;
    while (got < budget) {
      size_t want = budget - got;
      uint8_t* into = a.read_arena + cursor + got;
      ssize_t r = RetryOnEintr([&] { return read(c->fd, into, want); });
      if (r > 0) {
        got += static_cast<size_t>(r);
        if (static_cast<size_t>(r) < want) break;  // drained for now
        continue;
      }
      if (r == 0) {
        flags |= kRecEof;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        flags |= kRecError;
        err = static_cast<uint32_t>(errno);
      }
      break;
    }
    if (got > 0) flags |= kRecData;
    PutRecord(rec, ev.token, flags, static_cast<uint32_t>(cursor),
              static_cast<uint32_t>(got), err);
    cursor += got;
  }
  return out;
}

}  // namespace edgeloop
