// errno numbers to their symbolic names, for SysError.code.
//
// Only the error path calls these; the table is a switch so nothing is
// allocated at load time and unknown values fall through to "UNKNOWN".
#include "errno_names.h"

#include <errno.h>
#include <string.h>

#include <type_traits>

namespace edgeloop {

namespace {

const char* ErrnoName(int e) {
  switch (e) {
#define EDGELOOP_ERRNO(name) \
  case name:                 \
    return #name;
#ifdef EPERM
    EDGELOOP_ERRNO(EPERM)
#endif
#ifdef ENOENT
    EDGELOOP_ERRNO(ENOENT)
#endif
#ifdef ESRCH
    EDGELOOP_ERRNO(ESRCH)
#endif
#ifdef EINTR
    EDGELOOP_ERRNO(EINTR)
#endif
#ifdef EIO
    EDGELOOP_ERRNO(EIO)
#endif
#ifdef ENXIO
    EDGELOOP_ERRNO(ENXIO)
#endif
#ifdef E2BIG
    EDGELOOP_ERRNO(E2BIG)
#endif
#ifdef ENOEXEC
    EDGELOOP_ERRNO(ENOEXEC)
#endif
#ifdef EBADF
    EDGELOOP_ERRNO(EBADF)
#endif
#ifdef ECHILD
    EDGELOOP_ERRNO(ECHILD)
#endif
#ifdef EAGAIN
    EDGELOOP_ERRNO(EAGAIN)
#endif
#ifdef ENOMEM
    EDGELOOP_ERRNO(ENOMEM)
#endif
#ifdef EACCES
    EDGELOOP_ERRNO(EACCES)
#endif
#ifdef EFAULT
    EDGELOOP_ERRNO(EFAULT)
#endif
#ifdef EBUSY
    EDGELOOP_ERRNO(EBUSY)
#endif
#ifdef EEXIST
    EDGELOOP_ERRNO(EEXIST)
#endif
#ifdef EXDEV
    EDGELOOP_ERRNO(EXDEV)
#endif
#ifdef ENODEV
    EDGELOOP_ERRNO(ENODEV)
#endif
#ifdef ENOTDIR
    EDGELOOP_ERRNO(ENOTDIR)
#endif
#ifdef EISDIR
    EDGELOOP_ERRNO(EISDIR)
#endif
#ifdef EINVAL
    EDGELOOP_ERRNO(EINVAL)
#endif
#ifdef ENFILE
    EDGELOOP_ERRNO(ENFILE)
#endif
#ifdef EMFILE
    EDGELOOP_ERRNO(EMFILE)
#endif
#ifdef ENOTTY
    EDGELOOP_ERRNO(ENOTTY)
#endif
#ifdef ETXTBSY
    EDGELOOP_ERRNO(ETXTBSY)
#endif
#ifdef EFBIG
    EDGELOOP_ERRNO(EFBIG)
#endif
#ifdef ENOSPC
    EDGELOOP_ERRNO(ENOSPC)
#endif
#ifdef ESPIPE
    EDGELOOP_ERRNO(ESPIPE)
#endif
#ifdef EROFS
    EDGELOOP_ERRNO(EROFS)
#endif
#ifdef EMLINK
    EDGELOOP_ERRNO(EMLINK)
#endif
#ifdef EPIPE
    EDGELOOP_ERRNO(EPIPE)
#endif
#ifdef EDOM
    EDGELOOP_ERRNO(EDOM)
#endif
#ifdef ERANGE
    EDGELOOP_ERRNO(ERANGE)
#endif
#ifdef ENAMETOOLONG
    EDGELOOP_ERRNO(ENAMETOOLONG)
#endif
#ifdef ENOSYS
    EDGELOOP_ERRNO(ENOSYS)
#endif
#ifdef ENOTEMPTY
    EDGELOOP_ERRNO(ENOTEMPTY)
#endif
#ifdef ELOOP
    EDGELOOP_ERRNO(ELOOP)
#endif
#ifdef ENOTSOCK
    EDGELOOP_ERRNO(ENOTSOCK)
#endif
#ifdef EDESTADDRREQ
    EDGELOOP_ERRNO(EDESTADDRREQ)
#endif
#ifdef EMSGSIZE
    EDGELOOP_ERRNO(EMSGSIZE)
#endif
#ifdef EPROTOTYPE
    EDGELOOP_ERRNO(EPROTOTYPE)
#endif
#ifdef ENOPROTOOPT
    EDGELOOP_ERRNO(ENOPROTOOPT)
#endif
#ifdef EPROTONOSUPPORT
    EDGELOOP_ERRNO(EPROTONOSUPPORT)
#endif
#ifdef ESOCKTNOSUPPORT
    EDGELOOP_ERRNO(ESOCKTNOSUPPORT)
#endif
#ifdef EOPNOTSUPP
    EDGELOOP_ERRNO(EOPNOTSUPP)
#endif
#ifdef EPFNOSUPPORT
    EDGELOOP_ERRNO(EPFNOSUPPORT)
#endif
#ifdef EAFNOSUPPORT
    EDGELOOP_ERRNO(EAFNOSUPPORT)
#endif
#ifdef EADDRINUSE
    EDGELOOP_ERRNO(EADDRINUSE)
#endif
#ifdef EADDRNOTAVAIL
    EDGELOOP_ERRNO(EADDRNOTAVAIL)
#endif
#ifdef ENETDOWN
    EDGELOOP_ERRNO(ENETDOWN)
#endif
#ifdef ENETUNREACH
    EDGELOOP_ERRNO(ENETUNREACH)
#endif
#ifdef ENETRESET
    EDGELOOP_ERRNO(ENETRESET)
#endif
#ifdef ECONNABORTED
    EDGELOOP_ERRNO(ECONNABORTED)
#endif
#ifdef ECONNRESET
    EDGELOOP_ERRNO(ECONNRESET)
#endif
#ifdef ENOBUFS
    EDGELOOP_ERRNO(ENOBUFS)
#endif
#ifdef EISCONN
    EDGELOOP_ERRNO(EISCONN)
#endif
#ifdef ENOTCONN
    EDGELOOP_ERRNO(ENOTCONN)
#endif
#ifdef ESHUTDOWN
    EDGELOOP_ERRNO(ESHUTDOWN)
#endif
#ifdef ETIMEDOUT
    EDGELOOP_ERRNO(ETIMEDOUT)
#endif
#ifdef ECONNREFUSED
    EDGELOOP_ERRNO(ECONNREFUSED)
#endif
#ifdef EHOSTDOWN
    EDGELOOP_ERRNO(EHOSTDOWN)
#endif
#ifdef EHOSTUNREACH
    EDGELOOP_ERRNO(EHOSTUNREACH)
#endif
#ifdef EALREADY
    EDGELOOP_ERRNO(EALREADY)
#endif
#ifdef EINPROGRESS
    EDGELOOP_ERRNO(EINPROGRESS)
#endif
#ifdef ECANCELED
    EDGELOOP_ERRNO(ECANCELED)
#endif
#ifdef EPROTO
    EDGELOOP_ERRNO(EPROTO)
#endif
#undef EDGELOOP_ERRNO
    default:
      return "UNKNOWN";
  }
}

bool ArgErrno(const Napi::CallbackInfo& info, int* e) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "errno must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  *e = info[0].As<Napi::Number>().Int32Value();
  return true;
}

Napi::Value Name(const Napi::CallbackInfo& info) {
  int e;
  if (!ArgErrno(info, &e)) return info.Env().Undefined();
  // EWOULDBLOCK equals EAGAIN on Linux and the BSDs; one name is enough.
  return Napi::String::New(info.Env(), ErrnoName(e));
}

Napi::Value Message(const Napi::CallbackInfo& info) {
  int e;
  if (!ArgErrno(info, &e)) return info.Env().Undefined();
  char buf[256];
  buf[0] = '\0';
  // XSI and GNU strerror_r differ in return type; read the buffer in both
  // cases and fall back to the name if it stayed empty.
  auto r = strerror_r(e, buf, sizeof buf);
  using R = decltype(r);
  if constexpr (std::is_same_v<R, char*>) {
    return Napi::String::New(info.Env(), r != nullptr ? r : ErrnoName(e));
  } else {
    return Napi::String::New(info.Env(), buf[0] != '\0' ? buf : ErrnoName(e));
  }
}

}  // namespace

void ExportErrno(Napi::Env env, Napi::Object exports) {
  exports.Set("errnoName", Napi::Function::New(env, Name, "errnoName"));
  exports.Set("errnoMessage", Napi::Function::New(env, Message, "errnoMessage"));
}

}  // namespace edgeloop
