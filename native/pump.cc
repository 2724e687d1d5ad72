// Pump: see pump.h for the shape of a turn and the record layout.
#include "pump.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "poll.h"

namespace edgeloop {

namespace {

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // SO_NOSIGPIPE is set on the socket instead
#endif

constexpr uint32_t kInterestMask = kInterestReadable | kInterestWritable;
constexpr uint32_t kReadEvents = kReadable | kReadClosed | kError;

ssize_t SendRetry(int fd, const uint8_t* p, size_t n) {
  ssize_t r;
  do r = send(fd, p, n, kSendFlags);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == ENOTSOCK) {
    do r = write(fd, p, n);
    while (r < 0 && errno == EINTR);
  }
  return r;
}

ssize_t ReadRetry(int fd, uint8_t* p, size_t n) {
  ssize_t r;
  do r = read(fd, p, n);
  while (r < 0 && errno == EINTR);
  return r;
}

bool ThrowPollClosed(Napi::Env env) {
  Napi::Error err = Napi::TypeError::New(env, "poll is closed");
  err.Set("code", Napi::String::New(env, "ERR_POLL_CLOSED"));
  err.ThrowAsJavaScriptException();
  return false;
}

void PutRecord(uint32_t* rec, uint32_t token, uint32_t flags, uint32_t a,
               uint32_t b, uint32_t err) {
  rec[0] = token;
  rec[1] = flags;
  rec[2] = a;
  rec[3] = b;
  rec[4] = err;
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
                     });
}

// new Pump(poll, readArena, writeArena, writes, records, keyBits, readBudget,
//          eventsCapacity)
Pump::Pump(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Pump>(info) {
  Napi::Env env = info.Env();
  Addon* addon = AddonOf(env);
  if (info.Length() < 8 || !info[0].IsObject() ||
      !info[0].As<Napi::Object>().InstanceOf(addon->poll_class.Value())) {
    ThrowType(env, "poll must be a NativePoll");
    return;
  }
  selector_ = Napi::ObjectWrap<Poll>::Unwrap(info[0].As<Napi::Object>())->selector();
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
  for (int i = 0; i < 4; i++) arrays_ref_[i] = Napi::Persistent(info[i + 1].As<Napi::Object>());
  key_mask_ = (1u << key_bits) - 1;
  read_budget_ = budget;
  ready_.resize(capacity);
}

// The arrays are re-read every turn: one could have been detached (its
// ArrayBuffer transferred) since, and then nothing may be written to it.
bool Pump::Load(Napi::Env env, Arrays* a) {
  void* p[4];
  size_t len[4];
  for (int i = 0; i < 4; i++) {
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, arrays_ref_[i].Value(), &type, &len[i], &p[i],
                                 nullptr, nullptr) != napi_ok ||
        p[i] == nullptr || len[i] == 0) {
      return ThrowType(env, "a pump array was detached");
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

int Pump::SetInterest(Conn* c, uint32_t interest) {
  if (interest == c->interest) return 0;
  int r;
  if (interest == 0) {
    r = selector_->Deregister(c->fd);
  } else if (c->interest == 0) {
    r = selector_->Register(c->fd, c->token, interest, kOptLevel);
  } else {
    r = selector_->Reregister(c->fd, c->token, interest, kOptLevel);
  }
  if (r >= 0) c->interest = interest;
  return r;
}

// add(token, fd, interest, autoRead) -> 0 | -errno
Napi::Value Pump::Add(const Napi::CallbackInfo& info) {
  uint32_t token, interest;
  int fd;
  if (!ArgU32(info, 0, &token, "token out of range") || !ArgFd(info, 1, &fd) ||
      !ArgU32(info, 2, &interest, "interest out of range")) {
    return info.Env().Undefined();
  }
  if ((interest & ~kInterestMask) != 0 || (token & key_mask_) == key_mask_) {
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
  return Napi::Number::New(info.Env(), 0);
}

// modify(token, interest, autoRead) -> 0 | -errno (-ENOENT: not added)
Napi::Value Pump::Modify(const Napi::CallbackInfo& info) {
  uint32_t token, interest;
  if (!ArgU32(info, 0, &token, "token out of range") ||
      !ArgU32(info, 1, &interest, "interest out of range")) {
    return info.Env().Undefined();
  }
  if ((interest & ~kInterestMask) != 0) {
    ThrowRange(info.Env(), "interest out of range");
    return info.Env().Undefined();
  }
  Conn* c = Find(token);
  if (c == nullptr) return Napi::Number::New(info.Env(), -ENOENT);
  c->auto_read = info[2].ToBoolean();
  return Napi::Number::New(info.Env(), SetInterest(c, interest));
}

// remove(token) -> 0 | -ENOENT. Deregisters before the caller closes the fd.
Napi::Value Pump::Remove(const Napi::CallbackInfo& info) {
  uint32_t token;
  if (!ArgU32(info, 0, &token, "token out of range")) return info.Env().Undefined();
  Conn* c = Find(token);
  if (c == nullptr) return Napi::Number::New(info.Env(), -ENOENT);
  if (c->interest != 0) selector_->Deregister(c->fd);
  *c = Conn();
  return Napi::Number::New(info.Env(), 0);
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
    ssize_t r = SendRetry(c->fd, base + w[2], w[3]);
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

// One record per ready event; pumped connections that asked for it are read
// until would-block, EOF, their budget or a short read (level-triggered: what
// is left is reported again next turn).
uint32_t Pump::ReadReady(const Arrays& a, int events, uint32_t out, size_t cursor) {
  for (int e = 0; e < events; e++) {
    const ReadyEvent& ev = ready_[e];
    uint32_t* rec = a.records + (out++) * kRecordWords;
    Conn* c = Find(ev.token);
    if (c == nullptr) {
      PutRecord(rec, ev.token, ev.readiness | kRecRaw, 0, 0, 0);
      continue;
    }
    uint32_t flags = ev.readiness;
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
      ssize_t r = ReadRetry(c->fd, a.read_arena + cursor + got, want);
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

// Checks the write list before anything is sent: a bad entry sends nothing.
// `records_needed`: records the call may write from its first one.
bool Pump::CheckWrites(Napi::Env env, const Arrays& a, uint32_t count,
                       size_t records_needed) {
  if (selector_->fd() < 0) return ThrowPollClosed(env);
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

// turn(timeoutMs, writeCount) -> records | -errno (the wait failed)
Napi::Value Pump::Turn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t timeout;
  uint32_t count;
  Arrays a;
  if (!ArgInt(info, 0, -1, INT32_MAX, &timeout, "timeoutMs out of range") ||
      !ArgU32(info, 1, &count, "writeCount out of range") || !Load(env, &a) ||
      !CheckWrites(env, a, count, static_cast<size_t>(count) + ready_.size())) {
    return env.Undefined();
  }
  uint32_t out = SendCorked(a, count, 0);
  int n = selector_->Select(ready_.data(), static_cast<int>(ready_.size()),
                            static_cast<int>(timeout));
  if (n < 0) return Napi::Number::New(env, n);
  return Napi::Number::New(env, ReadReady(a, n, out, UnsentReadEnd(a, out)));
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

// flush(writeCount, recordStart) -> end of records: the corked writes
// only, no wait; records from recordStart, so a turn's records being
// walked below it stay intact.
Napi::Value Pump::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count, start;
  Arrays a;
  if (!ArgU32(info, 0, &count, "writeCount out of range") ||
      !ArgU32(info, 1, &start, "recordStart out of range") || !Load(env, &a) ||
      !CheckWrites(env, a, count, static_cast<size_t>(start) + count)) {
    return env.Undefined();
  }
  return Napi::Number::New(env, SendCorked(a, count, start));
}

}  // namespace edgeloop
