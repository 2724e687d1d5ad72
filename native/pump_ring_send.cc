// Pump, the io_uring turn's sends: each connection's corked writes of the
// turn become one sendmsg, submitted in the same io_uring_enter as the
// wait. MSG_DONTWAIT makes each complete inside that enter (sent, short or
// -EAGAIN), so the arenas it reads stay untouched until it has, and one
// request per connection keeps its bytes in order. What falls short comes
// back as the same kRecShort records the selector backend writes
// (pump_write.cc), so JS queues the unsent rest the same way.
#include <errno.h>
#include <limits.h>

#include "pump.h"

namespace edgeloop {

namespace {

constexpr uint32_t kMaxIov = IOV_MAX;

}  // namespace

// Marks the read-arena buffers this turn's corked writes point at (echo
// writes the bytes it was given): they go back to the kernel a turn later.
void Pump::MarkReferenced(const Arrays& a, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* w = a.writes + i * kWriteWords;
    if (w[1] != 1) continue;
    // The arena's tail past its last whole buffer is no buffer: clamp.
    uint32_t last = (w[2] + w[3] - 1) / buffer_size_;
    if (last >= ref_turn_.size()) last = static_cast<uint32_t>(ref_turn_.size()) - 1;
    for (uint32_t b = w[2] / buffer_size_; b <= last; b++) ref_turn_[b] = turn_;
  }
}

// Groups the write list by connection and queues one sendmsg per group
// (of at most IOV_MAX writes: SendDone reports the rest unsent, behind the
// others). A group whose request cannot be queued is reported unsent, with
// the error, from `*out`. Returns the sends queued.
uint32_t Pump::QueueSends(const Arrays& a, uint32_t count, uint32_t* out) {
  groups_.clear();
  for (uint32_t i = 0; i < count; i++) {  // count each connection's writes
    Conn* c = Find(a.writes[i * kWriteWords]);
    if (c == nullptr) continue;  // closed since it wrote: its bytes go nowhere
    if (c->send_stamp != turn_) {
      c->send_stamp = turn_;
      c->send_group = static_cast<uint32_t>(groups_.size());
      groups_.push_back(SendGroup{c->token, 0, 0});
    }
    groups_[c->send_group].count++;
  }
  uint32_t next = 0;
  for (size_t g = 0; g < groups_.size(); g++) {  // place them; count again as filled
    groups_[g].first = next;
    next += groups_[g].count;
    groups_[g].count = 0;
  }
  for (uint32_t i = 0; i < count; i++) {  // fill the iovecs, in list order
    const uint32_t* w = a.writes + i * kWriteWords;
    Conn* c = Find(w[0]);
    if (c == nullptr) continue;
    SendGroup& g = groups_[c->send_group];
    uint32_t k = g.first + g.count++;
    const uint8_t* base = w[1] == 0 ? a.write_arena : a.read_arena;
    iovs_[k].iov_base = const_cast<uint8_t*>(base + w[2]);
    iovs_[k].iov_len = w[3];
    iov_write_[k] = i;
  }
  uint32_t queued = 0;
  for (size_t g = 0; g < groups_.size(); g++) {
    SendGroup& group = groups_[g];
    uint32_t n = group.count < kMaxIov ? group.count : kMaxIov;
    msghdr* msg = &msgs_[g];
    *msg = msghdr{};
    msg->msg_iov = &iovs_[group.first];
    msg->msg_iovlen = n;
    Conn* c = Find(group.token);
    int r = ring_->QueueSendmsg(c->fd, msg, RingUserData(kOpSend, static_cast<uint32_t>(g)));
    if (r < 0) {
      *out = ShortRecords(a, group, 0, 0, kRecShort | kRecError, static_cast<uint32_t>(-r), *out);
      continue;
    }
    queued++;
  }
  return queued;
}

// One record per write of `g` not wholly sent, from its `from`th: the first
// with `sent` bytes gone and `flags`/`err`, the rest with nothing sent.
uint32_t Pump::ShortRecords(const Arrays& a, const SendGroup& g, uint32_t from, uint32_t sent,
                            uint32_t flags, uint32_t err, uint32_t out) {
  for (uint32_t k = from; k < g.count; k++) {
    PutRecord(a.records + (out++) * kRecordWords, g.token, k == from ? flags : kRecShort,
              iov_write_[g.first + k], k == from ? sent : 0, k == from ? err : 0);
  }
  return out;
}

// A sendmsg's completion: nothing when all went, else short records for
// what did not and, unless it failed, writable interest to send the rest.
uint32_t Pump::SendDone(const Arrays& a, const Completion& cq, uint32_t out) {
  const SendGroup& g = groups_[static_cast<uint32_t>(cq.user_data)];
  Conn* c = Find(g.token);
  if (c == nullptr) return out;
  if (cq.res < 0 && cq.res != -EAGAIN) {
    return ShortRecords(a, g, 0, 0, kRecShort | kRecError, static_cast<uint32_t>(-cq.res), out);
  }
  size_t left = cq.res > 0 ? static_cast<size_t>(cq.res) : 0;
  uint32_t n = g.count < kMaxIov ? g.count : kMaxIov;  // the writes the request held
  uint32_t k = 0;
  while (k < n && left >= iovs_[g.first + k].iov_len) left -= iovs_[g.first + k++].iov_len;
  if (k == g.count) return out;
  int armed = SetInterest(c, c->interest | kInterestWritable);
  uint32_t flags = armed < 0 ? kRecShort | kRecError : kRecShort;
  return ShortRecords(a, g, k, static_cast<uint32_t>(left), flags,
                      armed < 0 ? static_cast<uint32_t>(-armed) : 0, out);
}

}  // namespace edgeloop
