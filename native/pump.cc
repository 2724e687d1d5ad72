// Pump: the connection table and the entry points. See pump.h for the shape
// of a turn and the record layout; a turn's two halves are pump_write.cc
// (the corked writes) and pump_read.cc (the ready events and their reads).
#include "pump.h"

#include <errno.h>

#include "args.h"
#include "poll.h"

namespace edgeloop {

namespace {

constexpr uint32_t kInterestMask = kInterestReadable | kInterestWritable;

// Whether a typed array's memory is a SharedArrayBuffer's (true) or an
// ArrayBuffer's (false). Node 20's N-API has no SharedArrayBuffer check,
// but a typed array's buffer is one or the other.
bool OverShared(Napi::Env env, napi_value array) {
  napi_value buffer;
  bool plain = true;
  if (napi_get_typedarray_info(env, array, nullptr, nullptr, nullptr, &buffer, nullptr) != napi_ok ||
      napi_is_arraybuffer(env, buffer, &plain) != napi_ok) {
    return false;
  }
  return !plain;
}

// Whether the byte ranges [a, a + an) and [b, b + bn) share a byte.
bool Overlap(const void* a, size_t an, const void* b, size_t bn) {
  uintptr_t x = reinterpret_cast<uintptr_t>(a);
  uintptr_t y = reinterpret_cast<uintptr_t>(b);
  return x < y + bn && y < x + an;
}

}  // namespace

Napi::Function Pump::Define(Napi::Env env) {
  return DefineClass(env, "NativePump",
                     {
                         InstanceMethod<&Pump::Add>("add"),
                         InstanceMethod<&Pump::Modify>("modify"),
                         InstanceMethod<&Pump::Remove>("remove"),
                         InstanceMethod<&Pump::Turn>("turn"),
                         InstanceMethod<&Pump::Flush>("flush"),
                         InstanceMethod<&Pump::Accept>("accept"),
                         InstanceMethod<&Pump::SetAttached>("setAttached"),
                         InstanceMethod<&Pump::Close>("close"),
                         InstanceMethod<&Pump::Backend>("backend"),
                     });
}

// new Pump(poll, readArena, writeArena, writes, records, keyBits, readBudget,
//          eventsCapacity[, ringBufferSize])
// ringBufferSize > 0: the io_uring backend, the read arena cut into
// provided buffers of that size (their count a power of two).
Pump::Pump(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Pump>(info) {
  Napi::Env env = info.Env();
  Poll* poll = info.Length() < 8 ? nullptr : Poll::FromValue(env, info[0]);
  if (poll == nullptr) {
    ThrowType(env, "poll must be a NativePoll");
    return;
  }
  selector_ = poll->selector();
  poll_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  uint8_t* b8;
  uint32_t* b32;
  size_t n;
  if (!ArgTyped(info, 1, napi_uint8_array, 1, &b8, &n, "readArena must be a Uint8Array") ||
      !ArgTyped(info, 2, napi_uint8_array, 1, &b8, &n, "writeArena must be a Uint8Array") ||
      !ArgTyped(info, 3, napi_uint32_array, kWriteWords, &b32, &n, "writes must be a Uint32Array") ||
      !ArgTyped(info, 4, napi_uint32_array, kRecordWords, &b32, &n, "records must be a Uint32Array")) {
    return;
  }
  uint32_t key_bits, budget, capacity;
  if (!ArgU32(info, 5, &key_bits, "keyBits out of range") ||
      !ArgU32(info, 6, &budget, "readBudget out of range") ||
      !ArgU32(info, 7, &capacity, "eventsCapacity out of range")) {
    return;
  }
  if (key_bits < 1 || key_bits > 24 || budget == 0 || capacity == 0 ||
      n / kRecordWords < capacity) {
    ThrowRange(env, "keyBits, readBudget or eventsCapacity out of range");
    return;
  }
  // The write list and records are checked, then read again: another
  // thread writing them in between could point a send past its arena.
  if (OverShared(env, info[3]) || OverShared(env, info[4])) {
    ThrowType(env, "writes and records must not be over a SharedArrayBuffer");
    return;
  }
  bool ring = info.Length() > 8 && !info[8].IsUndefined();
  // The kernel keeps writing into the ring's read arena between calls: an
  // ArrayBuffer could be detached and freed under it, a SharedArrayBuffer
  // cannot (each holder keeps its memory alive).
  if (ring && !OverShared(env, info[1])) {
    ThrowType(env, "the io_uring backend's readArena must be over a SharedArrayBuffer");
    return;
  }
  for (int i = 0; i < 4; i++) arrays_ref_[i] = Napi::Persistent(info[i + 1].As<Napi::Object>());
  key_mask_ = (1u << key_bits) - 1;
  read_budget_ = budget;
  ready_.resize(capacity);
  Arrays a;
  if (!Load(env, &a)) return;  // refuses overlapping arrays now rather than at the first turn
  if (ring) OpenRing(info, a);
}

// The arrays are re-read every turn: one could have been detached (its
// ArrayBuffer transferred) since, and then nothing may be written to it.
//
// No two may share memory. The write list is checked once, before the
// sends, and then read again while records are written: a records array
// over the write list would rewrite entries after their check (an offset
// and length into an arena become a record's token and flags), and the
// pump would send, or read into, memory past the arenas. Views of one
// buffer are fine as long as they are disjoint; length-tracking views of a
// resizable buffer can grow into each other, hence the check every call.
bool Pump::Load(Napi::Env env, Arrays* a) {
  void* p[4];
  size_t len[4];
  size_t bytes[4];
  for (int i = 0; i < 4; i++) {
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, arrays_ref_[i].Value(), &type, &len[i], &p[i],
                                 nullptr, nullptr) != napi_ok ||
        p[i] == nullptr || len[i] == 0) {
      return ThrowType(env, "a pump array was detached");
    }
    bytes[i] = len[i] * (type == napi_uint32_array ? sizeof(uint32_t) : 1);
  }
  for (int i = 0; i < 4; i++) {
    for (int j = i + 1; j < 4; j++) {
      if (Overlap(p[i], bytes[i], p[j], bytes[j])) {
        return ThrowRange(env, "the pump's arrays must not overlap");
      }
    }
  }
  *a = Arrays{static_cast<uint8_t*>(p[0]), len[0], static_cast<uint8_t*>(p[1]), len[1],
              static_cast<uint32_t*>(p[2]), len[2], static_cast<uint32_t*>(p[3]), len[3]};
  return true;
}

Pump::Conn* Pump::Find(uint32_t token) {
  uint32_t key = token & key_mask_;
  if (key >= conns_.size()) return nullptr;
  Conn* c = &conns_[key];
  return c->fd >= 0 && c->token == token ? c : nullptr;
}

// What the selector watches is the interest less, on the ring, the reads
// the ring's recv does; the recv then follows (queued: the next enter, or
// the Submit of the caller, hands it over).
int Pump::SetInterest(Conn* c, uint32_t interest) {
  uint32_t old = c->interest;
  uint32_t old_polled = c->polled;
  c->interest = interest;
  int r = Watch(c, RingReads(c) ? interest & ~kInterestReadable : interest);
  if (r < 0 || ring_ == nullptr) {
    if (r < 0) c->interest = old;
    return r;
  }
  r = ApplyRecv(c);
  if (r < 0) {
    // The ring could take no request: back to what the kernel had, so the
    // table and the selector agree (an add that fails leaves nothing).
    c->interest = old;
    Watch(c, old_polled);
  }
  return r;
}

// Makes the selector watch `polled` for the connection (0: not at all).
int Pump::Watch(Conn* c, uint32_t polled) {
  if (polled == c->polled) return 0;
  int r;
  if (polled == 0) {
    r = selector_->Deregister(c->fd);
  } else if (c->polled == 0) {
    r = selector_->Register(c->fd, c->token, polled, kOptLevel);
  } else {
    r = selector_->Reregister(c->fd, c->token, polled, kOptLevel);
  }
  if (r >= 0) c->polled = polled;
  return r;
}

// add(token, fd, interest, autoRead) -> 0 | -errno
Napi::Value Pump::Add(const Napi::CallbackInfo& info) {
  uint32_t token, interest;
  int fd;
  if (!ArgU32(info, 0, &token, "token out of range") || !ArgFd(info, 1, &fd) ||
      !ArgU32(info, 2, &interest, "interest out of range") || !CheckOpen(info.Env())) {
    return info.Env().Undefined();
  }
  if ((interest & ~kInterestMask) != 0 || (token & key_mask_) == key_mask_ || token == kRingToken) {
    ThrowRange(info.Env(), "interest or token out of range");
    return info.Env().Undefined();
  }
  uint32_t key = token & key_mask_;
  if (key >= conns_.size()) conns_.resize(key + 64);
  Conn* c = &conns_[key];
  if (c->fd >= 0) return Napi::Number::New(info.Env(), -EEXIST);
  Conn fresh;
  fresh.fd = fd;
  fresh.token = token;
  fresh.auto_read = info[3].ToBoolean();
  int r = SetInterest(&fresh, interest);
  if (r < 0) return Napi::Number::New(info.Env(), r);
  *c = fresh;
  return Napi::Number::New(info.Env(), Submitted(0));
}

// modify(token, interest, autoRead) -> 0 | -errno (-ENOENT: not added)
Napi::Value Pump::Modify(const Napi::CallbackInfo& info) {
  uint32_t token, interest;
  if (!ArgU32(info, 0, &token, "token out of range") ||
      !ArgU32(info, 1, &interest, "interest out of range") || !CheckOpen(info.Env())) {
    return info.Env().Undefined();
  }
  if ((interest & ~kInterestMask) != 0) {
    ThrowRange(info.Env(), "interest out of range");
    return info.Env().Undefined();
  }
  Conn* c = Find(token);
  if (c == nullptr) return Napi::Number::New(info.Env(), -ENOENT);
  c->auto_read = info[2].ToBoolean();
  int r = SetInterest(c, interest);
  if (r >= 0 && ring_ != nullptr && c->listed) KickIfBacklog();  // resumed with bytes held
  return Napi::Number::New(info.Env(), r < 0 ? r : Submitted(0));
}

// remove(token) -> 0 | -ENOENT. Deregisters before the caller closes the fd.
Napi::Value Pump::Remove(const Napi::CallbackInfo& info) {
  uint32_t token;
  if (!ArgU32(info, 0, &token, "token out of range")) return info.Env().Undefined();
  Conn* c = Find(token);
  if (c == nullptr) return Napi::Number::New(info.Env(), -ENOENT);
  if (c->polled != 0) selector_->Deregister(c->fd);
  bool cancel_recv = c->recv == kRecvArmed;
  bool cancel_accept = c->accept == kRecvArmed;
  if (ring_ != nullptr) DropBacklog(c);
  *c = Conn();
  if (cancel_recv || cancel_accept) {
    // Completed here, before the caller closes the fd: the recv's hold on
    // the socket ends now, so the close sends the FIN at once (and a
    // listener's accept lets go of it, so the port is free).
    if (cancel_recv) CancelRecv(token);
    if (cancel_accept) {
      ring_->QueueCancel(RingUserData(kOpAccept, token), RingUserData(kOpCancel, token));
    }
    ring_->Wait(0);
  }
  return Napi::Number::New(info.Env(), 0);
}

// turn(timeoutMs, writeCount) -> records | -errno (the wait failed)
Napi::Value Pump::Turn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t timeout;
  uint32_t count;
  Arrays a;
  if (!ArgInt(info, 0, -1, INT32_MAX, &timeout, "timeoutMs out of range") ||
      !ArgU32(info, 1, &count, "writeCount out of range") || !Load(env, &a) ||
      !CheckOpen(env) ||
      !CheckWrites(env, a, count, static_cast<size_t>(count) + ready_.size())) {
    return env.Undefined();
  }
  if (ring_ != nullptr) {
    // Its send tables were sized by the write list it was made with; a
    // resizable buffer may have grown that list since.
    if (count > iovs_.size()) {
      ThrowRange(env, "writeCount is past the write list the pump was made with");
      return env.Undefined();
    }
    return Napi::Number::New(env, RingTurn(a, static_cast<int>(timeout), count));
  }
  uint32_t out = SendCorked(a, count, 0);
  int n = selector_->Select(ready_.data(), static_cast<int>(ready_.size()),
                            static_cast<int>(timeout));
  if (n < 0) return Napi::Number::New(env, n);
  return Napi::Number::New(env, ReadReady(a, n, out, UnsentReadEnd(a, out)));
}

// flush(writeCount, recordStart) -> end of records: the corked writes
// only, no wait; records from recordStart, so a turn's records being
// walked below it stay intact.
Napi::Value Pump::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count, start;
  Arrays a;
  if (!ArgU32(info, 0, &count, "writeCount out of range") ||
      !ArgU32(info, 1, &start, "recordStart out of range") || !Load(env, &a) ||
      !CheckOpen(env) ||
      !CheckWrites(env, a, count, static_cast<size_t>(start) + count)) {
    return env.Undefined();
  }
  uint32_t end = SendCorked(a, count, start);
  if (ring_ != nullptr) ring_->Submit();  // recvs armed or cancelled since the turn
  return Napi::Number::New(env, end);
}

// The poll this pump waits on was closed: the same error Poll raises.
bool Pump::CheckOpen(Napi::Env env) {
  if (selector_->fd() >= 0 && (ring_ == nullptr || ring_->fd() >= 0)) return true;
  Napi::Error err = Napi::TypeError::New(env, "poll is closed");
  err.Set("code", Napi::String::New(env, "ERR_POLL_CLOSED"));
  err.ThrowAsJavaScriptException();
  return false;
}

}  // namespace edgeloop
