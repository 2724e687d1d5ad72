// Pump, the io_uring turn: each ring connection has one multishot recv
// completing into a provided buffer of the read arena; a buffer goes back to
// the kernel at the start of the turn after the one whose handlers saw it.
// Everything else (listeners, the waker, user sources, writable interest)
// stays on the selector, which the ring watches with a oneshot poll on its
// fd while run() waits, and which uv_poll watches while attached. The
// corked writes are sent as on the selector backend (pump_write.cc).
#include <errno.h>
#include <poll.h>

#include "pump.h"

namespace edgeloop {

namespace {

enum Op : uint32_t { kOpRecv = 1, kOpPoll = 2, kOpCancel = 3 };

uint64_t UserData(Op op, uint32_t token) { return (static_cast<uint64_t>(op) << 32) | token; }

}  // namespace

// Starts or stops the connection's recv to match what the loop wants. A
// recv being cancelled re-arms from its last completion, not here, so a
// connection never has two.
int Pump::ApplyRecv(Conn* c) {
  bool want = RingReads(c);
  if (want && c->recv == kRecvIdle && !c->starved) {
    int r = ring_->QueueRecv(c->fd, UserData(kOpRecv, c->token));
    if (r < 0) return r;
    c->recv = kRecvArmed;
  } else if (!want && c->recv == kRecvArmed) {
    int r = CancelRecv(c->token);
    if (r < 0) return r;
    c->recv = kRecvCancelling;
  }
  return 0;
}

int Pump::CancelRecv(uint32_t token) {
  return ring_->QueueCancel(UserData(kOpRecv, token), UserData(kOpCancel, token));
}

// Gives the last turn's buffers back, except those a short write of this
// turn still has to copy its unsent bytes from (JS does, after the call);
// they go back a turn later. Then re-arms connections that ran dry, no more
// than there are buffers for, oldest first.
void Pump::RecycleBuffers(const Arrays& a, uint32_t shorts) {
  size_t kept = 0;
  for (size_t i = 0; i < delivered_.size(); i++) {
    uint32_t bid = delivered_[i];
    size_t lo = static_cast<size_t>(bid) * buffer_size_, hi = lo + buffer_size_;
    bool referenced = false;
    for (uint32_t k = 0; k < shorts && !referenced; k++) {
      const uint32_t* rec = a.records + k * kRecordWords;
      const uint32_t* w = a.writes + rec[2] * kWriteWords;
      size_t from = static_cast<size_t>(w[2]) + rec[3], to = static_cast<size_t>(w[2]) + w[3];
      referenced = w[1] == 1 && (rec[1] & kRecError) == 0 && from < hi && lo < to;
    }
    if (referenced) delivered_[kept++] = bid;
    else ring_->ReturnBuffer(bid);
  }
  delivered_.resize(kept);
  size_t i = 0;
  for (; i < starved_.size() && ring_->free_buffers() > 0; i++) {
    Conn* c = Find(starved_[i]);
    if (c == nullptr || !c->starved) continue;
    c->starved = false;
    ApplyRecv(c);
  }
  starved_.erase(starved_.begin(), starved_.begin() + static_cast<std::ptrdiff_t>(i));
  ring_->PublishBuffers();
}

// One recv completion as at most one record (0 or 1 returned).
uint32_t Pump::RecvRecord(const Completion& cq, uint32_t* rec) {
  uint32_t token = static_cast<uint32_t>(cq.user_data);
  Conn* c = Find(token);
  if (c == nullptr) {  // removed since: nothing of it reaches a reused token
    if (cq.bid >= 0) ring_->ReturnBuffer(static_cast<uint32_t>(cq.bid));
    return 0;
  }
  if (!cq.more) c->recv = kRecvIdle;
  uint32_t n = 0;
  if (cq.bid >= 0 && cq.res > 0) {
    delivered_.push_back(static_cast<uint32_t>(cq.bid));
    PutRecord(rec, token, kReadable | kRecData, static_cast<uint32_t>(cq.bid) * buffer_size_,
              static_cast<uint32_t>(cq.res), 0);
    n = 1;
  } else if (cq.bid >= 0) {
    ring_->ReturnBuffer(static_cast<uint32_t>(cq.bid));
  }
  if (cq.res == 0) {
    PutRecord(rec, token, kReadable | kReadClosed | kRecEof, 0, 0, 0);
    return 1;  // no more to read: not re-armed
  }
  if (cq.res == -ENOBUFS) {
    // The ring ran dry: the bytes wait in the socket until buffers return.
    if (!c->starved) starved_.push_back(token);
    c->starved = true;
  } else if (cq.res < 0 && cq.res != -ECANCELED) {
    PutRecord(rec, token, kRecError, 0, 0, static_cast<uint32_t>(-cq.res));
    return 1;
  }
  if (c->recv == kRecvIdle) ApplyRecv(c);  // ended early, or cancelled and wanted again
  return n;
}

// Takes completions into records from `out` up to `end`; what does not fit
// stays in the ring for the next turn. `select`: the selector has events.
uint32_t Pump::Reap(const Arrays& a, uint32_t out, uint32_t end, bool* select) {
  Completion cq;
  while (out < end && ring_->Next(&cq)) {
    Op op = static_cast<Op>(cq.user_data >> 32);
    if (op == kOpPoll) {
      poll_armed_ = false;
      *select = true;
    } else if (op == kOpRecv) {
      out += RecvRecord(cq, a.records + out * kRecordWords);
    }
  }
  return out;
}

// The rest of a turn once the corked writes are out (`out` records so far):
// recycle, wait, reap, then the selector's events.
int32_t Pump::RingTurn(const Arrays& a, int timeout, uint32_t out) {
  RecycleBuffers(a, out);
  if (!attached_ && !poll_armed_ &&
      ring_->QueuePoll(selector_->fd(), POLLIN, UserData(kOpPoll, 0)) == 0) {
    poll_armed_ = true;
  }
  int r = ring_->Wait(timeout);
  if (r < 0) return r;
  bool select = attached_;
  uint32_t end = out + static_cast<uint32_t>(ready_.size());
  out = Reap(a, out, end, &select);
  if (select && out < end) {
    int n = selector_->Select(ready_.data(), static_cast<int>(end - out), 0);
    if (n < 0) return n;
    out = ReadReady(a, n, out, 0);
  }
  return static_cast<int32_t>(out);
}

}  // namespace edgeloop
