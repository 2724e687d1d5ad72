// The waker's signal, callable from any thread (src/waker.ts). The fd is an
// eventfd on Linux and the kqueue itself elsewhere; WakeFd (the selector
// backend) knows which.
#include "args.h"
#include "selector.h"
#include "sys.h"

namespace edgeloop {

namespace {

// wake(fd, state: Int32Array(2)) -> 0 | -EBADF (the waker is closed) |
// -errno. The whole protocol with Poll::CloseWakerState runs here, in one
// native call: announce the wake in state[1], check the closed flag in
// state[0], signal, withdraw. Done in JavaScript, a worker terminated
// between the announce and the withdraw would leave the count raised for
// ever and the closing side waiting on it.
Napi::Value Wake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  int32_t* state;
  if (!ArgTyped(info, 1, napi_int32_array, 2, &state, nullptr,
                "waker state must be an Int32Array of length 2")) {
    return env.Undefined();
  }
  __atomic_add_fetch(&state[1], 1, __ATOMIC_SEQ_CST);
  int r = __atomic_load_n(&state[0], __ATOMIC_SEQ_CST) != 0 ? -EBADF : WakeFd(fd);
  __atomic_sub_fetch(&state[1], 1, __ATOMIC_SEQ_CST);
  return Num(env, r);
}

}  // namespace

void ExportSysWaker(Napi::Env env, Napi::Object exports) {
  static constexpr SysFunction kFns[] = {{"wake", Wake}};
  ExportFunctions(env, exports, kFns);
}

}  // namespace edgeloop
