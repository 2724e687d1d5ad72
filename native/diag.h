// Socket owner lookup for the ident server (Linux: netlink sock_diag).
#ifndef EDGELOOP_DIAG_H_
#define EDGELOOP_DIAG_H_

#include <napi.h>

namespace edgeloop {

// Adds diagOpen, diagQuery, diagReceive and getpwuidName to exports. On
// systems without sock_diag the diag functions return -ENOSYS.
void ExportDiag(Napi::Env env, Napi::Object exports);

}  // namespace edgeloop

#endif  // EDGELOOP_DIAG_H_
