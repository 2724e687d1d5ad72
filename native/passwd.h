// uid -> user name and home directory (getpwuid_r). It may block on NSS,
// so callers run it on a worker thread.
#ifndef EDGELOOP_PASSWD_H_
#define EDGELOOP_PASSWD_H_

#include <napi.h>

namespace edgeloop {

// Adds getpwuidName(uid) and getpwuidDir(uid): string | null (no such
// user) | -errno.
void ExportPasswd(Napi::Env env, Napi::Object exports);

}  // namespace edgeloop

#endif  // EDGELOOP_PASSWD_H_
