// errno -> name table (the names libuv and Node use in error codes).
#ifndef EDGELOOP_ERRNO_NAMES_H_
#define EDGELOOP_ERRNO_NAMES_H_

#include <napi.h>

namespace edgeloop {

// Adds errnoName(n) and errnoMessage(n) to exports.
void ExportErrno(Napi::Env env, Napi::Object exports);

}  // namespace edgeloop

#endif  // EDGELOOP_ERRNO_NAMES_H_
