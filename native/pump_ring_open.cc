// Pump, the io_uring backend's set-up and lifetime: opening the ring over
// the read arena, sizing the per-turn tables once (nothing grows in a
// turn), the eventfd that joins the selector while attached, and closing.
#include <string>

#include "args.h"
#include "pump.h"

namespace edgeloop {

// The constructor's ninth argument, ringBufferSize: the read arena cut into
// provided buffers of that size. A ring that cannot open throws
// ERR_IO_URING_UNAVAILABLE with the missing feature as `reason`.
void Pump::OpenRing(const Napi::CallbackInfo& info, const Arrays& a) {
  Napi::Env env = info.Env();
  uint32_t size;
  if (!ArgU32(info, 8, &size, "ringBufferSize out of range")) return;
  if (size == 0 || size > a.read_size) {
    ThrowRange(env, "ringBufferSize must be between 1 and the read arena's size");
    return;
  }
  std::string why;
  uint32_t buffers = static_cast<uint32_t>(a.read_size / size);
  ring_ = Ring::Open(a.read_arena, size, buffers, &why);
  if (ring_ == nullptr) {
    Napi::Error err = Napi::Error::New(env, "io_uring backend unavailable: " + why);
    err.Set("code", Napi::String::New(env, "ERR_IO_URING_UNAVAILABLE"));
    err.Set("reason", Napi::String::New(env, why));
    err.ThrowAsJavaScriptException();
    return;
  }
  buffer_size_ = size;
  delivered_.reserve(buffers);
  next_bid_.assign(buffers, -1);
  ref_turn_.assign(buffers, 0);
  bid_len_.assign(buffers, 0);
  size_t writes = a.writes_len / kWriteWords;
  groups_.reserve(writes);
  iovs_.resize(writes);
  iov_write_.resize(writes);
  msgs_.resize(writes);
  stash_.reserve(Ring::kCompletionQueueSize + ready_.size());
}

// setAttached(on) -> 0 | -errno. Attached, the ring's eventfd joins the
// selector (edge-triggered: each signal is one event, nothing to drain),
// so the one fd uv_poll watches also wakes for completions.
Napi::Value Pump::SetAttached(const Napi::CallbackInfo& info) {
  bool on = info.Length() > 0 && info[0].ToBoolean();
  if (ring_ == nullptr || ring_->fd() < 0 || on == attached_) return Napi::Number::New(info.Env(), 0);
  int efd = ring_->EventFd();
  int r = efd;
  if (efd >= 0) {
    r = on ? selector_->Register(efd, kRingToken, kInterestReadable, kOptEdge)
           : selector_->Deregister(efd);
  }
  if (r >= 0) attached_ = on;
  if (r >= 0 && on) {
    // The kernel signals the eventfd only for completions posted after it
    // was registered. One that landed before (a connection accepted while
    // listen() and attach() ran) would otherwise wait in the CQ with no
    // edge to wake uv_poll: signal once so the first attached turn reaps it.
    SignalRingEventFd();
  }
  return Napi::Number::New(info.Env(), r < 0 ? r : 0);
}

// close(): ends the ring (its requests with it); the selector is the Poll's.
Napi::Value Pump::Close(const Napi::CallbackInfo& info) {
  if (ring_ == nullptr) return info.Env().Undefined();
  if (ring_->fd() >= 0) CloseStashedAccepts();
  ring_->Close();
  return info.Env().Undefined();
}

// backend() -> "io_uring (<mode>)" or the selector's name.
Napi::Value Pump::Backend(const Napi::CallbackInfo& info) {
  if (ring_ == nullptr) return Napi::String::New(info.Env(), kBackendName);
  return Napi::String::New(info.Env(), std::string("io_uring (") + ring_->mode() + ")");
}

// Hands what the ring has queued to the kernel; returns `r`, or the
// submission's error.
int Pump::Submitted(int r) {
  if (ring_ == nullptr) return r;
  int s = ring_->Submit();
  return s < 0 ? s : r;
}

}  // namespace edgeloop
