// The addon's entry point: one Napi::Addon per environment (main thread or
// worker), so nothing here is static and every worker gets its own state.
#include "addon.h"

#include "diag.h"
#include "errno_names.h"
#include "poll.h"
#include "selector.h"
#include "sys.h"

namespace edgeloop {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  exports.Set("Poll", Poll::Define(env));
  ExportSys(env, exports);
  ExportErrno(env, exports);
  ExportDiag(env, exports);
  exports.Set("backend", Napi::String::New(env, kBackendName));
}

}  // namespace edgeloop

using EdgeloopAddon = edgeloop::Addon;
NODE_API_ADDON(EdgeloopAddon)
