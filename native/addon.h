// Per-environment addon state (main thread and each worker get their own).
#ifndef EDGELOOP_ADDON_H_
#define EDGELOOP_ADDON_H_

#include <napi.h>

#include "fd_table.h"

namespace edgeloop {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  // Runs when the environment is torn down: sockets the program left open
  // are closed so a worker that exits leaks no fd.
  ~Addon() { fds.CloseAll(); }

  FdTable fds;
};

// The instance for `env`.
inline Addon* AddonOf(Napi::Env env) { return env.GetInstanceData<Addon>(); }

}  // namespace edgeloop

#endif  // EDGELOOP_ADDON_H_
