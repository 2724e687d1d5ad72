// Systems without netlink sock_diag: the lookup is unavailable, and the
// ident server answers NO-USER (or its configured reply).
#include <errno.h>

#include "diag.h"
#include "passwd.h"

namespace edgeloop {

namespace {

Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), -ENOSYS);
}

}  // namespace

void ExportDiag(Napi::Env env, Napi::Object exports) {
  exports.Set("diagOpen", Napi::Function::New(env, Unavailable, "diagOpen"));
  exports.Set("diagQuery", Napi::Function::New(env, Unavailable, "diagQuery"));
  exports.Set("diagReceive", Napi::Function::New(env, Unavailable, "diagReceive"));
  ExportPasswd(env, exports);
}

}  // namespace edgeloop
