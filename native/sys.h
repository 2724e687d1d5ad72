// Socket syscalls exported as free functions (see sys.cc).
#ifndef EDGELOOP_SYS_H_
#define EDGELOOP_SYS_H_

#include <napi.h>

namespace edgeloop {

// Adds the socket functions and the `constants` object to exports.
void ExportSys(Napi::Env env, Napi::Object exports);

}  // namespace edgeloop

#endif  // EDGELOOP_SYS_H_
