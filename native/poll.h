// The JS-visible Poll object: a Selector plus what N-API needs around it.
// Registration and waiting are in poll.cc, the libuv attach in
// poll_attach.cc.
#ifndef EDGELOOP_POLL_H_
#define EDGELOOP_POLL_H_

#include <napi.h>
#include <uv.h>

#include "selector.h"

namespace edgeloop {

class Poll : public Napi::ObjectWrap<Poll> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Poll(const Napi::CallbackInfo& info);
  ~Poll() override;

  // The selector, for the Pump that drives this Poll's connections.
  Selector* selector() { return &selector_; }

  // The Poll that `value` wraps, or nullptr. Checks the type tag every Poll
  // gets when constructed: an object that only has Poll.prototype in its
  // chain (Object.create, or Reflect.construct of another class with Poll as
  // new.target) wraps nothing, or wraps some other class, and must never be
  // cast to a Poll.
  static Poll* FromValue(Napi::Env env, napi_value value);

 private:
  Napi::Value Register(const Napi::CallbackInfo& info);
  Napi::Value Reregister(const Napi::CallbackInfo& info);
  Napi::Value Deregister(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value AddWaker(const Napi::CallbackInfo& info);
  Napi::Value RemoveWaker(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  int Change(const Napi::CallbackInfo& info, bool modify);
  // True while the selector is open; otherwise throws ERR_POLL_CLOSED.
  bool CheckOpen(Napi::Env env);
  void StopWatching();
  void ReleaseCallback();
  void CloseWakerState();
  static void OnUvReadable(uv_poll_t* handle, int status, int events);
  static void OnUvClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  Selector selector_;
  int open_result_ = 0;
  // The Waker's shared state (see CloseWakerState), kept alive by the ref.
  int32_t* waker_state_ = nullptr;
  Napi::ObjectReference waker_state_ref_;
  // Attached mode: one uv_poll on the selector fd in the env's own libuv
  // loop. Heap-allocated because libuv finishes closing it asynchronously,
  // possibly after this object is gone.
  uv_poll_t* watcher_ = nullptr;
  Napi::FunctionReference on_ready_;
  Napi::ObjectReference resource_;
  napi_async_context async_context_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  bool referenced_ = true;
};

}  // namespace edgeloop

#endif  // EDGELOOP_POLL_H_
