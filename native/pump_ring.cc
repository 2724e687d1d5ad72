// Pump, the io_uring turn: each ring connection has one multishot recv
// completing into a provided buffer of the read arena; a buffer goes back to
// the kernel at the start of the turn after the one whose handlers saw it.
// Everything else (listeners, the waker, user sources, writable interest)
// stays on the selector, which the ring watches with a oneshot poll on its
// fd while run() waits, and which uv_poll watches while attached. The
// corked writes are sent as on the selector backend (pump_write.cc).
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "pump.h"

namespace edgeloop {

// Starts or stops the connection's recv to match what the loop wants. A
// recv being cancelled re-arms from its last completion, not here, so a
// connection never has two.
int Pump::ApplyRecv(Conn* c) {
  bool want = RingReads(c) && !c->throttled && !c->end_pending;
  if (want && c->recv == kRecvIdle && !c->starved) {
    int r = ring_->QueueRecv(c->fd, RingUserData(kOpRecv, c->token));
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
  return ring_->QueueCancel(RingUserData(kOpRecv, token), RingUserData(kOpCancel, token));
}

// Gives the last turn's buffers back, except those a corked write of this
// turn still reads (MarkReferenced); those go back a turn later, when any
// unsent rest has been copied into its queue. Then re-arms connections that
// ran dry, no more than there are buffers for, oldest first.
void Pump::RecycleBuffers() {
  size_t kept = 0;
  for (size_t i = 0; i < delivered_.size(); i++) {
    uint32_t bid = delivered_[i];
    if (ref_turn_[bid] == turn_) delivered_[kept++] = bid;
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

uint32_t Pump::TurnBytes(Conn* c) {
  if (c->turn_stamp != turn_) {
    c->turn_stamp = turn_;
    c->turn_bytes = 0;
  }
  return c->turn_bytes;
}

// Keeps a completed buffer back, behind the connection's earlier ones. A
// backlog as large as a turn's budget stops the recv (the bytes then wait
// in the socket, as on the selector backend) until it drains.
void Pump::Hold(Conn* c, uint32_t bid, uint32_t len) {
  next_bid_[bid] = -1;
  bid_len_[bid] = len;
  if (c->q_tail >= 0) next_bid_[c->q_tail] = static_cast<int32_t>(bid);
  else c->q_head = static_cast<int32_t>(bid);
  c->q_tail = static_cast<int32_t>(bid);
  c->q_bytes += len;
  if (!c->listed) backlog_.push_back(c->token);
  c->listed = true;
  if (c->q_bytes >= read_budget_ && !c->throttled) {
    c->throttled = true;
    ApplyRecv(c);
  }
}

// The recv ended with EOF (err 0) or an error; reported after the backlog.
void Pump::PendEnd(Conn* c, uint32_t err) {
  c->end_pending = true;
  c->end_errno = err;
  if (!c->listed) backlog_.push_back(c->token);
  c->listed = true;
}

void Pump::DropBacklog(Conn* c) {
  for (int32_t b = c->q_head; b >= 0; b = next_bid_[b]) ring_->ReturnBuffer(static_cast<uint32_t>(b));
  c->q_head = c->q_tail = -1;
  c->q_bytes = 0;
}

// One recv completion as at most one record (0 or 1 returned). Bytes go to
// JS at once only when nothing of the connection waits before them, it is
// reading and it is within this turn's budget; otherwise they are held.
uint32_t Pump::RecvRecord(const Completion& cq, uint32_t* rec) {
  uint32_t token = static_cast<uint32_t>(cq.user_data);
  Conn* c = Find(token);
  if (c == nullptr) {  // removed since: nothing of it reaches a reused token
    if (cq.bid >= 0) ring_->ReturnBuffer(static_cast<uint32_t>(cq.bid));
    return 0;
  }
  if (!cq.more) c->recv = kRecvIdle;
  bool direct = !c->listed && RingReads(c) &&
                (cq.res <= 0 || TurnBytes(c) == 0 ||
                 TurnBytes(c) + static_cast<uint32_t>(cq.res) <= read_budget_);
  uint32_t n = 0;
  if (cq.bid >= 0 && cq.res > 0) {
    uint32_t bid = static_cast<uint32_t>(cq.bid), len = static_cast<uint32_t>(cq.res);
    if (direct) {
      delivered_.push_back(bid);
      c->turn_bytes += len;
      PutRecord(rec, token, kReadable | kRecData, bid * buffer_size_, len, 0);
      n = 1;
    } else {
      Hold(c, bid, len);
    }
  } else if (cq.bid >= 0) {
    ring_->ReturnBuffer(static_cast<uint32_t>(cq.bid));
  }
  if (cq.res == -ENOBUFS) {
    // The ring ran dry: the bytes wait in the socket until buffers return.
    if (!c->starved) starved_.push_back(token);
    c->starved = true;
  } else if (cq.res <= 0 && cq.res != -ECANCELED) {
    uint32_t err = static_cast<uint32_t>(-cq.res);
    if (!direct || TurnBytes(c) > 0) {
      // Behind bytes held, or handed over this turn: next turn, and only if
      // their handler keeps reading (it may pause on them), as a read
      // would find the end on the selector backend.
      PendEnd(c, err);
    } else {
      uint32_t flags = err == 0 ? kReadable | kReadClosed | kRecEof : kRecError;
      PutRecord(rec, token, flags, 0, 0, err);
      n = 1;
    }
    return n;  // nothing more to read: not re-armed
  }
  if (c->recv == kRecvIdle) ApplyRecv(c);  // ended early, or cancelled and wanted again
  return n;
}

// Hands held bytes (and then a pending end) to JS for connections that are
// reading, within each one's budget; a drained backlog lets its recv run.
uint32_t Pump::DrainBacklogs(const Arrays& a, uint32_t out, uint32_t end) {
  size_t kept = 0;
  for (size_t i = 0; i < backlog_.size(); i++) {
    Conn* c = Find(backlog_[i]);
    if (c == nullptr || !c->listed) continue;
    while (out < end && c->q_head >= 0 && RingReads(c) &&
           (TurnBytes(c) == 0 || TurnBytes(c) + bid_len_[c->q_head] <= read_budget_)) {
      uint32_t bid = static_cast<uint32_t>(c->q_head);
      c->q_head = next_bid_[bid];
      if (c->q_head < 0) c->q_tail = -1;
      c->q_bytes -= bid_len_[bid];
      c->turn_bytes += bid_len_[bid];
      delivered_.push_back(bid);
      PutRecord(a.records + (out++) * kRecordWords, c->token, kReadable | kRecData,
                bid * buffer_size_, bid_len_[bid], 0);
    }
    if (c->q_head < 0 && c->end_pending && RingReads(c) && out < end) {
      uint32_t err = c->end_errno;
      uint32_t flags = err == 0 ? kReadable | kReadClosed | kRecEof : kRecError;
      PutRecord(a.records + (out++) * kRecordWords, c->token, flags, 0, 0, err);
      c->end_pending = false;
    }
    if (c->q_head >= 0 || c->end_pending) {
      backlog_[kept++] = c->token;
      continue;
    }
    c->listed = false;
    if (c->throttled) {
      c->throttled = false;
      ApplyRecv(c);
    }
  }
  backlog_.resize(kept);
  return out;
}

// Takes what the ring completed: sends at once (their short records must
// come first), the rest into the stash, in order.
void Pump::Reap(const Arrays& a, uint32_t* out, bool* select) {
  Completion cq;
  while (ring_->Next(&cq)) {
    RingOp op = static_cast<RingOp>(cq.user_data >> 32);
    if (op == kOpPoll) {
      poll_armed_ = false;
      *select = true;
    } else if (op == kOpSend) {
      *out = SendDone(a, cq, *out);
    } else if (op == kOpRecv || op == kOpAccept) {
      stash_.push_back(cq);
    }
  }
}

// Records from the stash, oldest first, up to `end`; the rest wait for the
// next turn.
uint32_t Pump::Unstash(const Arrays& a, uint32_t out, uint32_t end) {
  while (out < end && stash_next_ < stash_.size()) {
    const Completion& cq = stash_[stash_next_++];
    uint32_t* rec = a.records + out * kRecordWords;
    out += (cq.user_data >> 32) == kOpAccept ? AcceptRecord(cq, rec) : RecvRecord(cq, rec);
  }
  if (stash_next_ == stash_.size()) {
    stash_.clear();
    stash_next_ = 0;
  }
  return out;
}

// A turn on the ring: this turn's sends and the wait in one enter, then
// the short writes' records, held bytes due, completions, and the
// selector's events.
int32_t Pump::RingTurn(const Arrays& a, int timeout, uint32_t count) {
  turn_++;
  MarkReferenced(a, count);
  RecycleBuffers();
  uint32_t out = 0;
  uint32_t sends = QueueSends(a, count, &out);
  if (BacklogReady() || stash_next_ < stash_.size()) timeout = 0;  // records are due now
  if (!attached_ && !poll_armed_ &&
      ring_->QueuePoll(selector_->fd(), POLLIN, RingUserData(kOpPoll, 0)) == 0) {
    poll_armed_ = true;
  }
  int r = ring_->Wait(timeout, sends);
  if (r < 0) return r;
  bool select = attached_;
  Reap(a, &out, &select);
  uint32_t end = out + static_cast<uint32_t>(ready_.size());
  out = DrainBacklogs(a, out, end);
  out = Unstash(a, out, end);
  if (select && out < end) {
    int n = selector_->Select(ready_.data(), static_cast<int>(end - out), 0);
    if (n < 0) return n;
    out = ReadReady(a, n, out, 0);
  }
  KickIfBacklog();
  return static_cast<int32_t>(out);
}

// Whether a reading connection has held bytes or a pending end.
bool Pump::BacklogReady() {
  for (uint32_t token : backlog_) {
    Conn* c = Find(token);
    if (c != nullptr && c->listed && RingReads(c)) return true;
  }
  return false;
}

// Attached, nothing but the fd uv_poll watches starts a turn: when held
// bytes are due, signal the ring's eventfd so that one comes.
void Pump::KickIfBacklog() {
  if (!attached_ || (!BacklogReady() && stash_next_ >= stash_.size())) return;
  SignalRingEventFd();
}

// One attached turn to come: the eventfd's edge wakes uv_poll.
void Pump::SignalRingEventFd() {
  uint64_t one = 1;
  ssize_t r = write(ring_->EventFd(), &one, sizeof one);
  (void)r;  // EAGAIN: the counter is already signalled
}

}  // namespace edgeloop
