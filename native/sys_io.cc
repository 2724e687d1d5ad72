// Moving bytes, and the two calls that start a connection: connect and
// accept. A signal that interrupts a transfer retries it (eintr.h).
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "eintr.h"
#include "send.h"
#include "sys.h"

namespace edgeloop {

namespace {

constexpr size_t kMaxIov = 1024;

// The (fd, buffer, offset, length) arguments every byte call starts with.
struct FdSlice {
  int fd;
  uint8_t* p;
  size_t n;
};

bool ArgFdSlice(const Napi::CallbackInfo& info, FdSlice* a) {
  return ArgFd(info, 0, &a->fd) && ArgSlice(info, 1, &a->p, &a->n);
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd;
  Slot s;
  if (!ArgFd(info, 0, &fd) || !ArgSlot(info, 1, &s)) return info.Env().Undefined();
  // A non-blocking connect interrupted by a signal keeps going in the
  // background, like EINPROGRESS: report it as such.
  int r = connect(fd, reinterpret_cast<struct sockaddr*>(s.addr), SlotLen(s));
  if (r < 0 && errno == EINTR) return Num(info.Env(), -EINPROGRESS);
  return Result(info.Env(), r);
}

// accept(fd[, slot]) -> new fd | -errno. With a slot, the peer's address
// lands in it, so the caller needs no getpeername.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  Slot s;
  bool peer = info.Length() > 1 && !info[1].IsUndefined();
  if (peer && !ArgSlot(info, 1, &s)) return info.Env().Undefined();
  struct sockaddr* sa = peer ? reinterpret_cast<struct sockaddr*>(s.addr) : nullptr;
  socklen_t alen = sizeof(struct sockaddr_storage);
  int c = RetryOnEintr([&] {
    alen = sizeof(struct sockaddr_storage);
#ifdef SOCK_NONBLOCK
    return accept4(fd, sa, peer ? &alen : nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    return accept(fd, sa, peer ? &alen : nullptr);
#endif
  });
  if (c < 0) return Num(info.Env(), -errno);
  if (peer) *s.len = alen;
#ifndef SOCK_NONBLOCK
  int r = PrepareFd(c);
  if (r < 0) {
    close(c);
    return Num(info.Env(), r);
  }
#endif
  AddonOf(info.Env())->fds.Add(c);
  return Num(info.Env(), c);
}

// The hot path: read(fd, buf, off, len) -> bytes | 0 at EOF | -errno.
Napi::Value Read(const Napi::CallbackInfo& info) {
  FdSlice a;
  if (!ArgFdSlice(info, &a)) return info.Env().Undefined();
  return Result(info.Env(), RetryOnEintr([&] { return read(a.fd, a.p, a.n); }));
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  FdSlice a;
  if (!ArgFdSlice(info, &a)) return info.Env().Undefined();
  return Result(info.Env(), SendBytes(a.fd, a.p, a.n));
}

Napi::Value Peek(const Napi::CallbackInfo& info) {
  FdSlice a;
  if (!ArgFdSlice(info, &a)) return info.Env().Undefined();
  return Result(info.Env(),
                RetryOnEintr([&] { return recv(a.fd, a.p, a.n, MSG_PEEK); }));
}

// Fills iov from a JS array of Uint8Arrays; false (with a JS exception) on a
// bad element or too many. Elements are fetched first and measured after:
// fetching can run getters (JS), which could resize a buffer measured
// earlier; measuring runs no JS.
bool ArgIov(const Napi::CallbackInfo& info, size_t i, struct iovec* iov,
            size_t* count) {
  Napi::Env env = info.Env();
  bool is_array = false;
  if (i >= info.Length() || napi_is_array(env, info[i], &is_array) != napi_ok ||
      !is_array) {
    return ThrowType(env, "buffers must be an array of Uint8Arrays");
  }
  uint32_t len = 0;
  if (napi_get_array_length(env, info[i], &len) != napi_ok) {
    return env.IsExceptionPending() ? false : ThrowType(env, "buffers must be an array");
  }
  if (len > kMaxIov) return ThrowRange(env, "too many buffers (max 1024)");
  napi_value elements[kMaxIov];
  for (uint32_t k = 0; k < len; k++) {
    if (napi_get_element(env, info[i], k, &elements[k]) != napi_ok) {
      // A getter threw: its exception is already pending.
      return env.IsExceptionPending() ? false : ThrowType(env, "bad buffers array");
    }
  }
  for (uint32_t k = 0; k < len; k++) {
    napi_typedarray_type type;
    size_t size;
    void* data;
    if (napi_get_typedarray_info(env, elements[k], &type, &size, &data, nullptr,
                                 nullptr) != napi_ok ||
        type != napi_uint8_array) {
      return ThrowType(env, "buffers must be an array of Uint8Arrays");
    }
    iov[k].iov_base = data;
    iov[k].iov_len = size;
  }
  *count = len;
  return true;
}

Napi::Value Readv(const Napi::CallbackInfo& info) {
  int fd;
  struct iovec iov[kMaxIov];
  size_t count;
  if (!ArgFd(info, 0, &fd) || !ArgIov(info, 1, iov, &count)) {
    return info.Env().Undefined();
  }
  int n = static_cast<int>(count);
  return Result(info.Env(), RetryOnEintr([&] { return readv(fd, iov, n); }));
}

Napi::Value Writev(const Napi::CallbackInfo& info) {
  int fd;
  struct iovec iov[kMaxIov];
  size_t count;
  if (!ArgFd(info, 0, &fd) || !ArgIov(info, 1, iov, &count)) {
    return info.Env().Undefined();
  }
  struct msghdr msg {};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  ssize_t r = RetryOnEintr([&] { return sendmsg(fd, &msg, kSendFlags); });
  // Not a socket: plain writev, as SendBytes does for write().
  if (r < 0 && errno == ENOTSOCK) {
    int n = static_cast<int>(count);
    r = RetryOnEintr([&] { return writev(fd, iov, n); });
  }
  return Result(info.Env(), r);
}

// recvFrom(fd, buf, off, len, slot) -> bytes | -errno; the sender's address
// lands in slot (an empty slot when the socket names none, see StoreSender).
Napi::Value RecvFrom(const Napi::CallbackInfo& info) {
  FdSlice a;
  Slot s;
  if (!ArgFdSlice(info, &a) || !ArgSlot(info, 4, &s)) {
    return info.Env().Undefined();
  }
  socklen_t alen = sizeof(struct sockaddr_storage);
  auto* from = reinterpret_cast<struct sockaddr*>(s.addr);
  ssize_t r = RetryOnEintr([&] { return recvfrom(a.fd, a.p, a.n, 0, from, &alen); });
  if (r >= 0) StoreSender(a.fd, s, alen);
  return Result(info.Env(), r);
}

Napi::Value SendTo(const Napi::CallbackInfo& info) {
  FdSlice a;
  Slot s;
  if (!ArgFdSlice(info, &a) || !ArgSlot(info, 4, &s)) {
    return info.Env().Undefined();
  }
  auto* to = reinterpret_cast<struct sockaddr*>(s.addr);
  socklen_t alen = SlotLen(s);
  return Result(info.Env(), RetryOnEintr([&] {
                  return sendto(a.fd, a.p, a.n, kSendFlags, to, alen);
                }));
}

}  // namespace

void ExportSysIo(Napi::Env env, Napi::Object exports) {
  static constexpr SysFunction kFns[] = {
      {"connect", Connect}, {"accept", Accept},   {"read", Read},
      {"write", Write},     {"peek", Peek},       {"readv", Readv},
      {"writev", Writev},   {"recvFrom", RecvFrom}, {"sendTo", SendTo},
  };
  ExportFunctions(env, exports, kFns);
}

}  // namespace edgeloop
