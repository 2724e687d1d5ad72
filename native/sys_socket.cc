// Sockets' lives: opening them (non-blocking and close-on-exec from birth),
// bind, listen, shutdown, close, and integer socket options.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "sys.h"

namespace edgeloop {

namespace {

int SetNonBlockCloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

int NoSigPipe(int fd) {
#ifdef SO_NOSIGPIPE
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0) {
    return -errno;
  }
#else
  (void)fd;
#endif
  return 0;
}

// Opens a socket that is non-blocking and close-on-exec from birth where the
// platform allows, and right after creation where it does not.
int OpenSocket(int domain, int type, int protocol) {
#ifdef SOCK_NONBLOCK
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  int r = NoSigPipe(fd);
#else
  int fd = socket(domain, type, protocol);
  if (fd < 0) return -errno;
  int r = PrepareFd(fd);
#endif
  if (r < 0) {
    close(fd);
    return r;
  }
  return fd;
}

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int64_t domain, type, protocol;
  if (!ArgInt(info, 0, 0, INT32_MAX, &domain, "domain out of range") ||
      !ArgInt(info, 1, 0, INT32_MAX, &type, "type out of range") ||
      !ArgInt(info, 2, 0, INT32_MAX, &protocol, "protocol out of range")) {
    return info.Env().Undefined();
  }
  int fd = OpenSocket(static_cast<int>(domain), static_cast<int>(type),
                      static_cast<int>(protocol));
  AddonOf(info.Env())->fds.Add(fd);
  return Num(info.Env(), fd);
}

// socketpair(domain, type, out: Int32Array(2)) -> 0 | -errno
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t domain, type;
  if (!ArgInt(info, 0, 0, INT32_MAX, &domain, "domain out of range") ||
      !ArgInt(info, 1, 0, INT32_MAX, &type, "type out of range")) {
    return env.Undefined();
  }
  int32_t* out;
  if (!ArgTyped(info, 2, napi_int32_array, 2, &out, nullptr,
                "out must be an Int32Array of length 2")) {
    return env.Undefined();
  }
  int fds[2];
  int t = static_cast<int>(type);
#ifdef SOCK_NONBLOCK
  t |= SOCK_NONBLOCK | SOCK_CLOEXEC;
#endif
  if (socketpair(static_cast<int>(domain), t, 0, fds) < 0) {
    return Num(env, -errno);
  }
  for (int fd : fds) {
    int r = PrepareFd(fd);
    if (r < 0) {
      close(fds[0]);
      close(fds[1]);
      return Num(env, r);
    }
  }
  out[0] = fds[0];
  out[1] = fds[1];
  AddonOf(env)->fds.Add(fds[0]);
  AddonOf(env)->fds.Add(fds[1]);
  return Num(env, 0);
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd;
  Slot s;
  if (!ArgFd(info, 0, &fd) || !ArgSlot(info, 1, &s)) return info.Env().Undefined();
  int r = bind(fd, reinterpret_cast<struct sockaddr*>(s.addr), SlotLen(s));
  return Result(info.Env(), r);
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd;
  int64_t backlog;
  if (!ArgFd(info, 0, &fd) ||
      !ArgInt(info, 1, 0, INT32_MAX, &backlog, "backlog out of range")) {
    return info.Env().Undefined();
  }
  return Result(info.Env(), listen(fd, static_cast<int>(backlog)));
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd;
  int64_t how;
  if (!ArgFd(info, 0, &fd) || !ArgInt(info, 1, 0, 2, &how, "how out of range")) {
    return info.Env().Undefined();
  }
  return Result(info.Env(), shutdown(fd, static_cast<int>(how)));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  AddonOf(info.Env())->fds.Remove(fd);
  // Never retry close on EINTR: on Linux the fd is already gone.
  return Result(info.Env(), close(fd));
}

Napi::Value SetSockOptInt(const Napi::CallbackInfo& info) {
  int fd;
  int64_t level, name, value;
  if (!ArgFd(info, 0, &fd) ||
      !ArgInt(info, 1, 0, INT32_MAX, &level, "level out of range") ||
      !ArgInt(info, 2, 0, INT32_MAX, &name, "option out of range") ||
      !ArgInt(info, 3, INT32_MIN, INT32_MAX, &value, "value out of range")) {
    return info.Env().Undefined();
  }
  int v = static_cast<int>(value);
  return Result(info.Env(), setsockopt(fd, static_cast<int>(level),
                                       static_cast<int>(name), &v, sizeof v));
}

// getSockOptInt(fd, level, name, out: Int32Array(1)) -> 0 | -errno
Napi::Value GetSockOptInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t level, name;
  if (!ArgFd(info, 0, &fd) ||
      !ArgInt(info, 1, 0, INT32_MAX, &level, "level out of range") ||
      !ArgInt(info, 2, 0, INT32_MAX, &name, "option out of range")) {
    return env.Undefined();
  }
  int32_t* out;
  if (!ArgTyped(info, 3, napi_int32_array, 1, &out, nullptr,
                "out must be an Int32Array")) {
    return env.Undefined();
  }
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, static_cast<int>(level), static_cast<int>(name), &v,
                 &len) < 0) {
    return Num(env, -errno);
  }
  out[0] = v;
  return Num(env, 0);
}

}  // namespace

int PrepareFd(int fd) {
  int r = SetNonBlockCloexec(fd);
  return r < 0 ? r : NoSigPipe(fd);
}

void ExportSysSocket(Napi::Env env, Napi::Object exports) {
  static constexpr SysFunction kFns[] = {
      {"socket", Socket},         {"socketpair", SocketPair},
      {"bind", Bind},             {"listen", Listen},
      {"shutdown", Shutdown},     {"close", Close},
      {"setSockOptInt", SetSockOptInt}, {"getSockOptInt", GetSockOptInt},
  };
  ExportFunctions(env, exports, kFns);
}

}  // namespace edgeloop
