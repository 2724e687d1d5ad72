// Poll's attached mode: the selector fd watched by a uv_poll in the env's
// own libuv loop, so readiness arrives as a callback instead of a blocking
// wait (src/loop/drivers.ts). Registration and waiting are in poll.cc.
#include <errno.h>

#include "args.h"
#include "poll.h"

namespace edgeloop {

namespace {

// The uv_poll plus what its close callback needs: libuv finishes a close on
// a later loop turn, so this outlives the Poll that started it.
struct Watch {
  uv_poll_t handle;
  napi_async_cleanup_hook_handle finishing = nullptr;
};

}  // namespace

// attach(onReady, resource): watch the selector fd from the env's own libuv
// loop (never uv_default_loop, which would be wrong inside a worker) and
// call onReady through MakeCallback whenever it is readable.
Napi::Value Poll::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsObject()) {
    ThrowType(env, "attach(onReady, resource) needs a function and an object");
    return env.Undefined();
  }
  if (!CheckOpen(env)) return env.Undefined();
  if (watcher_ != nullptr) return Napi::Number::New(env, -EALREADY);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    return Napi::Number::New(env, -ENOSYS);
  }
  auto* watch = new Watch();
  int r = uv_poll_init(loop, &watch->handle, selector_.fd());
  if (r != 0) {
    delete watch;
    return Napi::Number::New(env, r);  // libuv errors are -errno on Unix
  }
  watch->handle.data = this;
  r = uv_poll_start(&watch->handle, UV_READABLE, OnUvReadable);
  if (r != 0) {
    watch->handle.data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->handle), OnUvClosed);
    return Napi::Number::New(env, r);
  }
  if (!referenced_) uv_unref(reinterpret_cast<uv_handle_t*>(&watch->handle));
  watcher_ = &watch->handle;
  on_ready_ = Napi::Persistent(info[0].As<Napi::Function>());
  resource_ = Napi::Persistent(info[1].As<Napi::Object>());
  napi_async_init(env, info[1], Napi::String::New(env, "edgeloop:Poll"),
                  &async_context_);
  // A worker that exits while attached must close the handle before its
  // loop is torn down, or libuv aborts on a live handle.
  napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_hook_);
  return Napi::Number::New(env, 0);
}

Napi::Value Poll::Detach(const Napi::CallbackInfo& info) {
  StopWatching();
  return info.Env().Undefined();
}

Napi::Value Poll::Ref(const Napi::CallbackInfo& info) {
  referenced_ = true;
  if (watcher_) uv_ref(reinterpret_cast<uv_handle_t*>(watcher_));
  return info.Env().Undefined();
}

Napi::Value Poll::Unref(const Napi::CallbackInfo& info) {
  referenced_ = false;
  if (watcher_) uv_unref(reinterpret_cast<uv_handle_t*>(watcher_));
  return info.Env().Undefined();
}

void Poll::StopWatching() {
  if (watcher_ == nullptr) return;
  if (cleanup_hook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanup_hook_);
    cleanup_hook_ = nullptr;
  }
  uv_poll_stop(watcher_);
  watcher_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(watcher_), OnUvClosed);
  watcher_ = nullptr;
  ReleaseCallback();
}

// What attach() took besides the handle: the async context and the two
// references. Released when the watcher stops and when the environment ends
// with the poll still attached (the destructor that may follow then finds
// no watcher, so it cannot do it).
void Poll::ReleaseCallback() {
  if (async_context_ != nullptr) {
    napi_async_destroy(Env(), async_context_);
    async_context_ = nullptr;
  }
  on_ready_.Reset();
  resource_.Reset();
}

void Poll::OnUvReadable(uv_poll_t* handle, int status, int events) {
  (void)events;
  auto* self = static_cast<Poll*>(handle->data);
  if (self == nullptr || self->on_ready_.IsEmpty()) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  napi_value result;
  napi_value arg = Napi::Number::New(env, status);
  napi_status st =
      napi_make_callback(env, self->async_context_, self->resource_.Value(),
                         self->on_ready_.Value(), 1, &arg, &result);
  if (st == napi_pending_exception) {
    // Same path as an exception thrown from a Node callback: the process's
    // 'uncaughtException' sees it, and the watcher stays armed.
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

void Poll::OnUvClosed(uv_handle_t* handle) {
  auto* watch = reinterpret_cast<Watch*>(handle);
  if (watch->finishing != nullptr) {
    napi_remove_async_cleanup_hook(watch->finishing);
  }
  delete watch;
}

void Poll::OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<Poll*>(arg);
  self->cleanup_hook_ = nullptr;
  if (self->watcher_ != nullptr) {
    auto* watch = reinterpret_cast<Watch*>(self->watcher_);
    uv_poll_stop(self->watcher_);
    self->watcher_->data = nullptr;
    // The hook completes once libuv has finished closing the handle.
    watch->finishing = handle;
    uv_close(reinterpret_cast<uv_handle_t*>(self->watcher_), OnUvClosed);
    self->watcher_ = nullptr;
    self->ReleaseCallback();
  } else {
    napi_remove_async_cleanup_hook(handle);
  }
  self->CloseWakerState();
  self->selector_.Close();
}

}  // namespace edgeloop
