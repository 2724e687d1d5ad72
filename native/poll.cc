// Poll: the N-API face of a Selector.
//
// The events array is a Uint32Array owned by JS ([token, readiness] pairs);
// Wait() hands its memory straight to the backend, so a poll allocates
// nothing and copies each event once, from the kernel's struct into it.
#include "poll.h"

#include <errno.h>
#include <sched.h>

#include "args.h"

namespace edgeloop {

Napi::Function Poll::Define(Napi::Env env) {
  return DefineClass(
      env, "NativePoll",
      {
          InstanceMethod<&Poll::Register>("register"),
          InstanceMethod<&Poll::Reregister>("reregister"),
          InstanceMethod<&Poll::Deregister>("deregister"),
          InstanceMethod<&Poll::Wait>("wait"),
          InstanceMethod<&Poll::AddWaker>("addWaker"),
          InstanceMethod<&Poll::RemoveWaker>("removeWaker"),
          InstanceMethod<&Poll::Fd>("fd"),
          InstanceMethod<&Poll::Close>("close"),
          InstanceMethod<&Poll::Attach>("attach"),
          InstanceMethod<&Poll::Detach>("detach"),
          InstanceMethod<&Poll::Ref>("ref"),
          InstanceMethod<&Poll::Unref>("unref"),
      });
}

namespace {

// Marks objects constructed by Poll (see FromValue). Random, as the N-API
// documentation asks, so that no other addon's tag can equal it.
constexpr napi_type_tag kPollTag = {0x7c3f1d2a5e9b4c81ULL, 0xa4d2e6f08b1c3597ULL};

}  // namespace

// Construction never throws for a kernel failure: JS reads fd() and turns a
// negative value into a SysError, so the errno name logic stays in one place.
Poll::Poll(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poll>(info) {
  napi_type_tag_object(info.Env(), info.This(), &kPollTag);
  open_result_ = selector_.Open();
}

Poll* Poll::FromValue(Napi::Env env, napi_value value) {
  // Only objects: the tag check converts anything else with ToObject,
  // which throws for null and undefined.
  napi_valuetype type;
  bool tagged = false;
  void* wrapped = nullptr;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_object ||
      napi_check_object_type_tag(env, value, &kPollTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, value, &wrapped) != napi_ok) {
    return nullptr;
  }
  return static_cast<Poll*>(wrapped);
}

Poll::~Poll() {
  StopWatching();
  CloseWakerState();
  selector_.Close();
}

// The selector's fd; once closed, -EBADF (open_result_ is 0 after a good
// open, and 0 would name stdin), or the open's -errno if it failed.
Napi::Value Poll::Fd(const Napi::CallbackInfo& info) {
  int fd = selector_.fd();
  if (fd < 0) fd = open_result_ < 0 ? open_result_ : -EBADF;
  return Napi::Number::New(info.Env(), fd);
}

// The same error src/poll.ts throws for a closed Poll (TypeError, code
// ERR_POLL_CLOSED), for callers that hold the native object directly.
bool Poll::CheckOpen(Napi::Env env) {
  if (selector_.fd() >= 0) return true;
  Napi::TypeError err = Napi::TypeError::New(env, "poll is closed");
  err.Set("code", Napi::String::New(env, "ERR_POLL_CLOSED"));
  err.ThrowAsJavaScriptException();
  return false;
}

int Poll::Change(const Napi::CallbackInfo& info, bool modify) {
  int fd;
  uint32_t token, interest, opts;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &token, "token out of range") ||
      !ArgU32(info, 2, &interest, "interest out of range") ||
      !ArgU32(info, 3, &opts, "opts out of range")) {
    return 0;
  }
  if (interest == 0 || (interest & ~uint32_t{7}) != 0) {
    ThrowRange(info.Env(), "interest must be a non-empty set");
    return 0;
  }
  if (!CheckOpen(info.Env())) return 0;
  return modify ? selector_.Reregister(fd, token, interest, opts)
                : selector_.Register(fd, token, interest, opts);
}

Napi::Value Poll::Register(const Napi::CallbackInfo& info) {
  int r = Change(info, false);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value Poll::Reregister(const Napi::CallbackInfo& info) {
  int r = Change(info, true);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value Poll::Deregister(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), selector_.Deregister(fd));
}

// wait(events: Uint32Array, timeoutMs: int32) -> count | -errno
Napi::Value Poll::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* data;
  size_t length;
  if (!ArgTyped(info, 0, napi_uint32_array, 0, &data, &length,
                "events storage must be a Uint32Array")) {
    return env.Undefined();
  }
  int64_t timeout;
  if (!ArgInt(info, 1, -1, INT32_MAX, &timeout, "timeout out of range")) {
    return env.Undefined();
  }
  int capacity = static_cast<int>(length / 2 > INT32_MAX ? INT32_MAX : length / 2);
  if (capacity == 0) {
    ThrowRange(env, "events capacity must be at least 1");
    return env.Undefined();
  }
  if (!CheckOpen(env)) return env.Undefined();
  static_assert(sizeof(ReadyEvent) == 2 * sizeof(uint32_t),
                "ReadyEvent must match the [token, readiness] layout");
  int n = selector_.Select(reinterpret_cast<ReadyEvent*>(data), capacity,
                           static_cast<int>(timeout));
  return Napi::Number::New(env, n);
}

// addWaker(token, state: Int32Array(2)) -> fd to wake through (>= 0) or
// -errno. `state` is shared with every thread that may wake: [0] = closed,
// [1] = wakes in progress (see CloseWakerState).
//
// The Poll keeps a pointer into `state` until the waker is removed, so its
// memory must stay put: a SharedArrayBuffer can be neither detached nor
// shrunk, an ArrayBuffer can be both (transferred away and freed, or resized
// down), so only the first is taken. It must start at [0, 0]: a raised
// in-progress count would make CloseWakerState wait for a wake that never
// ends.
Napi::Value Poll::AddWaker(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t token;
  if (!ArgU32(info, 0, &token, "token out of range")) return env.Undefined();
  int32_t* state;
  if (!ArgTyped(info, 1, napi_int32_array, 2, &state, nullptr,
                "waker state must be an Int32Array of length 2")) {
    return env.Undefined();
  }
  napi_value buffer;
  bool detachable = true;
  if (napi_get_typedarray_info(env, info[1], nullptr, nullptr, nullptr, &buffer, nullptr) !=
          napi_ok ||
      napi_is_arraybuffer(env, buffer, &detachable) != napi_ok || detachable) {
    ThrowType(env, "waker state must be an Int32Array over a SharedArrayBuffer");
    return env.Undefined();
  }
  if (__atomic_load_n(&state[0], __ATOMIC_SEQ_CST) != 0 ||
      __atomic_load_n(&state[1], __ATOMIC_SEQ_CST) != 0) {
    ThrowRange(env, "waker state must start as [0, 0]");
    return env.Undefined();
  }
  if (waker_state_ != nullptr) return Napi::Number::New(env, -EEXIST);
  int r = selector_.AddWaker(token);
  if (r == 0) {
    waker_state_ = state;
    waker_state_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  }
  if (r < 0) return Napi::Number::New(info.Env(), r);
  int wake_fd = selector_.waker_fd() >= 0 ? selector_.waker_fd() : selector_.fd();
  return Napi::Number::New(info.Env(), wake_fd);
}

Napi::Value Poll::RemoveWaker(const Napi::CallbackInfo& info) {
  CloseWakerState();
  waker_state_ref_.Reset();
  return Napi::Number::New(info.Env(), selector_.RemoveWaker());
}

// Marks the waker closed for every thread, then waits for wakes already
// past that check to finish, so no thread can write to the fd after it is
// closed and its number reused. The JS side increments state[1] before
// reading state[0] (see src/waker.ts); both sides use sequentially
// consistent atomics, so a wake either sees the flag or is waited for here.
void Poll::CloseWakerState() {
  if (waker_state_ == nullptr) return;
  __atomic_store_n(&waker_state_[0], 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&waker_state_[1], __ATOMIC_SEQ_CST) != 0) sched_yield();
  waker_state_ = nullptr;
}

Napi::Value Poll::Close(const Napi::CallbackInfo& info) {
  StopWatching();
  CloseWakerState();
  waker_state_ref_.Reset();
  selector_.Close();
  return info.Env().Undefined();
}

}  // namespace edgeloop
