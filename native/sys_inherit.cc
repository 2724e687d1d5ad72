// Sockets this process did not open but inherited: from systemd socket
// activation (fds 3 and up) or from inetd (fd 0). The TypeScript layer
// decides which kinds it accepts; these two calls only ask the kernel what
// an fd is, and then make an accepted one behave like the addon's own.
#include <sys/socket.h>

#include "addon.h"
#include "args.h"
#include "sys.h"

namespace edgeloop {

namespace {

// inspectSocket(fd, out: Int32Array(3)) -> 0 | -errno
// out = [address family, socket type, 1 if listening else 0]. Changes
// nothing, so a rejected fd is left exactly as it came. A non-socket fd is
// -ENOTSOCK, a closed one -EBADF (getsockopt says so itself).
Napi::Value InspectSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  int32_t* out;
  if (!ArgTyped(info, 1, napi_int32_array, 3, &out, nullptr,
                "out must be an Int32Array of length 3")) {
    return env.Undefined();
  }
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    return Num(env, -errno);
  }
  int listening = 0;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
    return Num(env, -errno);
  }
  // The family from the socket's own name: SO_DOMAIN is Linux-only.
  struct sockaddr_storage ss = {};
  len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) < 0) {
    return Num(env, -errno);
  }
  out[0] = ss.ss_family;
  out[1] = type;
  out[2] = listening != 0 ? 1 : 0;
  return Num(env, 0);
}

// adoptFd(fd) -> 0 | -errno
// Non-blocking, close-on-exec (so children do not inherit it) and free of
// SIGPIPE, like a socket the addon opened, and tracked like one.
Napi::Value AdoptFd(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  int r = PrepareFd(fd);
  if (r < 0) return Num(info.Env(), r);
  AddonOf(info.Env())->fds.Add(fd);
  return Num(info.Env(), 0);
}

}  // namespace

void ExportSysInherit(Napi::Env env, Napi::Object exports) {
  static constexpr SysFunction kFns[] = {
      {"inspectSocket", InspectSocket},
      {"adoptFd", AdoptFd},
  };
  ExportFunctions(env, exports, kFns);
}

}  // namespace edgeloop
