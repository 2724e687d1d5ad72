// Pump, the write half of a turn: the corked writes, checked and then sent
// in list order (see pump.h for the write list and record layouts).
#include <errno.h>

#include "args.h"
#include "pump.h"
#include "send.h"

namespace edgeloop {

// Checks the write list before anything is sent: a bad entry sends nothing.
// `records_needed`: records the call may write from its first one.
bool Pump::CheckWrites(Napi::Env env, const Arrays& a, uint32_t count,
                       size_t records_needed) {
  if (static_cast<size_t>(count) * kWriteWords > a.writes_len ||
      records_needed > a.records_len / kRecordWords) {
    return ThrowRange(env, "writeCount is past the write list's end");
  }
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* w = a.writes + i * kWriteWords;
    size_t size = w[1] == 0 ? a.write_size : a.read_size;
    if (w[1] > 1 || static_cast<uint64_t>(w[2]) + w[3] > size || w[3] == 0) {
      return ThrowRange(env, "a corked write lies outside its arena");
    }
  }
  return true;
}

// Sends the corked writes in list order. A write that falls short (or
// would block) arms writable interest and blocks the connection's later
// writes of this turn; each such write gets a kRecShort record so JS queues
// the unsent rest, in order. A failed write gets kRecShort | kRecError.
uint32_t Pump::SendCorked(const Arrays& a, uint32_t count, uint32_t out) {
  const uint32_t first = out;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* w = a.writes + i * kWriteWords;
    Conn* c = Find(w[0]);
    if (c == nullptr) continue;  // closed since it wrote: its bytes go nowhere
    uint32_t* rec = a.records + out * kRecordWords;
    if (c->blocked) {
      PutRecord(rec, w[0], kRecShort, i, 0, 0);
      out++;
      continue;
    }
    const uint8_t* base = w[1] == 0 ? a.write_arena : a.read_arena;
    ssize_t r = SendBytes(c->fd, base + w[2], w[3]);
    if (r >= 0 && static_cast<uint32_t>(r) == w[3]) continue;
    c->blocked = true;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      PutRecord(rec, w[0], kRecShort | kRecError, i, 0, static_cast<uint32_t>(errno));
    } else {
      int armed = SetInterest(c, c->interest | kInterestWritable);
      uint32_t sent = r > 0 ? static_cast<uint32_t>(r) : 0;
      PutRecord(rec, w[0], armed < 0 ? kRecShort | kRecError : kRecShort, i, sent,
                armed < 0 ? static_cast<uint32_t>(-armed) : 0);
    }
    out++;
  }
  for (uint32_t k = first; k < out; k++) {
    Conn* c = Find(a.records[k * kRecordWords]);
    if (c != nullptr) c->blocked = false;
  }
  return out;
}

// Where this turn's reads may begin: past every read-arena byte a short
// write still has to send, which JS copies into a queue after the call.
size_t Pump::UnsentReadEnd(const Arrays& a, uint32_t shorts) const {
  size_t end = 0;
  for (uint32_t k = 0; k < shorts; k++) {
    const uint32_t* rec = a.records + k * kRecordWords;
    const uint32_t* w = a.writes + rec[2] * kWriteWords;
    if (w[1] == 1 && static_cast<size_t>(w[2]) + w[3] > end) end = w[2] + w[3];
  }
  return end;
}

}  // namespace edgeloop
