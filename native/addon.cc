// The addon's entry point: one Napi::Addon per environment (main thread or
// worker), so nothing here is static and every worker gets its own state.
#include "addon.h"

#include <uv.h>

#include "diag.h"
#include "errno_names.h"
#include "poll.h"
#include "pump.h"
#include "ring.h"
#include "selector.h"
#include "sys.h"

namespace edgeloop {

namespace {

// The fd of this environment's libuv loop (its epoll/kqueue descriptor). A
// blocking run() in a worker watches it so that worker.terminate(), which
// signals that loop, also ends a wait that never returns to libuv.
Napi::Value UvBackendFd(const Napi::CallbackInfo& info) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(info.Env(), &loop) != napi_ok || loop == nullptr) {
    return Napi::Number::New(info.Env(), -1);
  }
  return Napi::Number::New(info.Env(), uv_backend_fd(loop));
}

// probeIoUring() -> "" when the io_uring backend can run here, else why not.
Napi::Value ProbeIoUring(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Ring::Probe());
}

}  // namespace

Addon::Addon(Napi::Env env, Napi::Object exports) {
  exports.Set("Poll", Poll::Define(env));
  exports.Set("Pump", Pump::Define(env));
  ExportSysSocket(env, exports);
  ExportSysIo(env, exports);
  ExportSysAddress(env, exports);
  ExportSysWaker(env, exports);
  ExportSysInherit(env, exports);
  ExportSysConstants(env, exports);
  ExportErrno(env, exports);
  ExportDiag(env, exports);
  exports.Set("probeIoUring", Napi::Function::New(env, ProbeIoUring, "probeIoUring"));
  exports.Set("uvBackendFd", Napi::Function::New(env, UvBackendFd, "uvBackendFd"));
  exports.Set("backend", Napi::String::New(env, kBackendName));
}

}  // namespace edgeloop

using EdgeloopAddon = edgeloop::Addon;
NODE_API_ADDON(EdgeloopAddon)
