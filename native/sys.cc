// Socket syscalls as free functions on integer fds.
//
// Each returns a number: the result on success, -errno on failure. No errno
// ever becomes an exception here; src/errors.ts decides, so that EAGAIN stays
// a cheap return value on the hot path. Only bad arguments throw.
//
// Addresses travel in an "address slot": a Uint8Array of kSlotSize bytes,
// [uint32 socklen][4 bytes padding][sockaddr_storage]. Only this file reads
// or writes the sockaddr inside, so its layout (sin_len on BSD, ...) never
// leaks into TypeScript.
#include "sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "addon.h"
#include "args.h"
#include "selector.h"

namespace edgeloop {

namespace {

constexpr size_t kSlotHeader = 8;
constexpr size_t kSlotSize = kSlotHeader + sizeof(struct sockaddr_storage);
constexpr size_t kMaxIov = 1024;

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // SO_NOSIGPIPE is set on the socket instead
#endif

Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

Napi::Number Result(Napi::Env env, ssize_t r) {
  return Num(env, r < 0 ? -errno : static_cast<double>(r));
}

struct Slot {
  uint32_t* len;
  struct sockaddr_storage* addr;
};

bool ArgSlot(const Napi::CallbackInfo& info, size_t i, Slot* slot) {
  uint8_t* data;
  size_t size;
  if (!ArgBytes(info, i, &data, &size)) return false;
  if (size < kSlotSize) return ThrowRange(info.Env(), "address slot too small");
  // Uint8Arrays are not guaranteed aligned: copy through memcpy-safe types.
  slot->len = reinterpret_cast<uint32_t*>(data);
  slot->addr = reinterpret_cast<struct sockaddr_storage*>(data + kSlotHeader);
  if ((reinterpret_cast<uintptr_t>(data) & 7) != 0) {
    return ThrowRange(info.Env(), "address slot must be 8-byte aligned");
  }
  return true;
}

socklen_t SlotLen(const Slot& s) {
  uint32_t len = *s.len;
  return len > sizeof(struct sockaddr_storage)
             ? static_cast<socklen_t>(sizeof(struct sockaddr_storage))
             : static_cast<socklen_t>(len);
}

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
#else
  int fd = socket(domain, type, protocol);
  if (fd < 0) return -errno;
  int r = SetNonBlockCloexec(fd);
  if (r < 0) {
    close(fd);
    return r;
  }
#endif
  int r2 = NoSigPipe(fd);
  if (r2 < 0) {
    close(fd);
    return r2;
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
    int r = SetNonBlockCloexec(fd);
    if (r == 0) r = NoSigPipe(fd);
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

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd;
  int64_t backlog;
  if (!ArgFd(info, 0, &fd) ||
      !ArgInt(info, 1, 0, INT32_MAX, &backlog, "backlog out of range")) {
    return info.Env().Undefined();
  }
  return Result(info.Env(), listen(fd, static_cast<int>(backlog)));
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  int c;
  do {
#ifdef SOCK_NONBLOCK
    c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    c = accept(fd, nullptr, nullptr);
#endif
  } while (c < 0 && errno == EINTR);
  if (c < 0) return Num(info.Env(), -errno);
#ifndef SOCK_NONBLOCK
  int r = SetNonBlockCloexec(c);
  if (r == 0) r = NoSigPipe(c);
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
  int fd;
  uint8_t* p;
  size_t n;
  if (!ArgFd(info, 0, &fd) || !ArgSlice(info, 1, &p, &n)) {
    return info.Env().Undefined();
  }
  ssize_t r;
  do r = read(fd, p, n);
  while (r < 0 && errno == EINTR);
  return Result(info.Env(), r);
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* p;
  size_t n;
  if (!ArgFd(info, 0, &fd) || !ArgSlice(info, 1, &p, &n)) {
    return info.Env().Undefined();
  }
  ssize_t r;
  do r = send(fd, p, n, kSendFlags);
  while (r < 0 && errno == EINTR);
  // Not a socket (a pipe, a tty): plain write; Node ignores SIGPIPE.
  if (r < 0 && errno == ENOTSOCK) {
    do r = write(fd, p, n);
    while (r < 0 && errno == EINTR);
  }
  return Result(info.Env(), r);
}

Napi::Value Peek(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* p;
  size_t n;
  if (!ArgFd(info, 0, &fd) || !ArgSlice(info, 1, &p, &n)) {
    return info.Env().Undefined();
  }
  ssize_t r;
  do r = recv(fd, p, n, MSG_PEEK);
  while (r < 0 && errno == EINTR);
  return Result(info.Env(), r);
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
  ssize_t r;
  do r = readv(fd, iov, static_cast<int>(count));
  while (r < 0 && errno == EINTR);
  return Result(info.Env(), r);
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
  ssize_t r;
  do r = sendmsg(fd, &msg, kSendFlags);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno == ENOTSOCK) {
    do r = writev(fd, iov, static_cast<int>(count));
    while (r < 0 && errno == EINTR);
  }
  return Result(info.Env(), r);
}

// recvFrom(fd, buf, off, len, slot) -> bytes | -errno; the sender's address
// lands in slot.
Napi::Value RecvFrom(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* p;
  size_t n;
  Slot s;
  if (!ArgFd(info, 0, &fd) || !ArgSlice(info, 1, &p, &n) ||
      !ArgSlot(info, 4, &s)) {
    return info.Env().Undefined();
  }
  socklen_t alen = sizeof(struct sockaddr_storage);
  ssize_t r;
  do r = recvfrom(fd, p, n, 0, reinterpret_cast<struct sockaddr*>(s.addr), &alen);
  while (r < 0 && errno == EINTR);
  if (r >= 0) *s.len = alen;
  return Result(info.Env(), r);
}

Napi::Value SendTo(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* p;
  size_t n;
  Slot s;
  if (!ArgFd(info, 0, &fd) || !ArgSlice(info, 1, &p, &n) ||
      !ArgSlot(info, 4, &s)) {
    return info.Env().Undefined();
  }
  ssize_t r;
  do r = sendto(fd, p, n, kSendFlags, reinterpret_cast<struct sockaddr*>(s.addr),
                SlotLen(s));
  while (r < 0 && errno == EINTR);
  return Result(info.Env(), r);
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

Napi::Value SockName(const Napi::CallbackInfo& info, bool peer) {
  int fd;
  Slot s;
  if (!ArgFd(info, 0, &fd) || !ArgSlot(info, 1, &s)) return info.Env().Undefined();
  socklen_t alen = sizeof(struct sockaddr_storage);
  auto* sa = reinterpret_cast<struct sockaddr*>(s.addr);
  int r = peer ? getpeername(fd, sa, &alen) : getsockname(fd, sa, &alen);
  if (r == 0) *s.len = alen;
  return Result(info.Env(), r);
}

Napi::Value GetSockName(const Napi::CallbackInfo& info) { return SockName(info, false); }
Napi::Value GetPeerName(const Napi::CallbackInfo& info) { return SockName(info, true); }

// encodeInet(host, port, slot) -> 0 | -EINVAL. Numeric hosts only (no DNS:
// resolving is slow and belongs to the caller); IPv6 may carry %scope.
Napi::Value EncodeInet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t port;
  Slot s;
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "host must be a string");
    return env.Undefined();
  }
  if (!ArgInt(info, 1, 0, 65535, &port, "port out of range") ||
      !ArgSlot(info, 2, &s)) {
    return env.Undefined();
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  memset(s.addr, 0, sizeof *s.addr);
  auto* v4 = reinterpret_cast<struct sockaddr_in*>(s.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
#ifdef __APPLE__
    v4->sin_len = sizeof *v4;
#endif
    *s.len = sizeof *v4;
    return Num(env, 0);
  }
  auto* v6 = reinterpret_cast<struct sockaddr_in6*>(s.addr);
  std::string::size_type pct = host.find('%');
  std::string bare = host.substr(0, pct);
  if (inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) != 1) {
    return Num(env, -EINVAL);
  }
  if (pct != std::string::npos) {
    std::string scope = host.substr(pct + 1);
    char* end = nullptr;
    unsigned long id = strtoul(scope.c_str(), &end, 10);
    if (scope.empty() || *end != '\0') id = if_nametoindex(scope.c_str());
    if (id == 0 || id > UINT32_MAX) return Num(env, -EINVAL);
    v6->sin6_scope_id = static_cast<uint32_t>(id);
  }
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(static_cast<uint16_t>(port));
#ifdef __APPLE__
  v6->sin6_len = sizeof *v6;
#endif
  *s.len = sizeof *v6;
  return Num(env, 0);
}

// encodeUnix(path bytes, abstract, slot) -> 0 | -ENAMETOOLONG
Napi::Value EncodeUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* path;
  size_t len;
  Slot s;
  if (!ArgBytes(info, 0, &path, &len) || !ArgSlot(info, 2, &s)) {
    return env.Undefined();
  }
  bool abstract = info.Length() > 1 && info[1].ToBoolean().Value();
  auto* un = reinterpret_cast<struct sockaddr_un*>(s.addr);
  memset(un, 0, sizeof *un);
  un->sun_family = AF_UNIX;
  size_t start = abstract ? 1 : 0;
  // A path needs room for its terminating NUL; an abstract name does not.
  size_t room = sizeof un->sun_path - start - (abstract ? 0 : 1);
  if (len > room) return Num(env, -ENAMETOOLONG);
  if (!abstract && memchr(path, 0, len) != nullptr) return Num(env, -EINVAL);
  memcpy(un->sun_path + start, path, len);
  *s.len = static_cast<uint32_t>(offsetof(struct sockaddr_un, sun_path) + start +
                                 len + (abstract ? 0 : 1));
  return Num(env, 0);
}

// decodeAddress(slot) -> { family, address, port, flowinfo, scopeid } for
// inet, { family: 'unix', path: Buffer, abstract } for unix; null otherwise.
Napi::Value DecodeAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Slot s;
  if (!ArgSlot(info, 0, &s)) return env.Undefined();
  socklen_t len = SlotLen(s);
  Napi::Object out = Napi::Object::New(env);
  char text[INET6_ADDRSTRLEN];
  if (len >= sizeof(struct sockaddr_in) && s.addr->ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<struct sockaddr_in*>(s.addr);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    out.Set("family", "IPv4");
    out.Set("address", text);
    out.Set("port", Num(env, ntohs(v4->sin_port)));
    return out;
  }
  if (len >= sizeof(struct sockaddr_in6) && s.addr->ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<struct sockaddr_in6*>(s.addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    out.Set("family", "IPv6");
    out.Set("address", text);
    out.Set("port", Num(env, ntohs(v6->sin6_port)));
    out.Set("flowinfo", Num(env, ntohl(v6->sin6_flowinfo)));
    out.Set("scopeid", Num(env, v6->sin6_scope_id));
    return out;
  }
  // Linux reports an unnamed Unix peer (socketpair, unbound sender) with
  // length 0; only Unix sockets do that.
  if (len == 0) {
    out.Set("family", "unix");
    out.Set("path", Napi::Buffer<char>::New(env, 0));
    out.Set("abstract", Napi::Boolean::New(env, false));
    return out;
  }
  if (len >= offsetof(struct sockaddr_un, sun_path) &&
      s.addr->ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<struct sockaddr_un*>(s.addr);
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    bool abstract = n > 0 && un->sun_path[0] == '\0';
    const char* p = un->sun_path + (abstract ? 1 : 0);
    if (abstract) {
      n -= 1;
    } else {
      n = strnlen(p, n);
    }
    out.Set("family", "unix");
    out.Set("path", Napi::Buffer<char>::Copy(env, p, n));
    out.Set("abstract", Napi::Boolean::New(env, abstract));
    return out;
  }
  return env.Null();
}

// wake(fd, state: Int32Array(2)) -> 0 | -EBADF (the waker is closed) |
// -errno. The whole protocol with Poll::CloseWakerState runs here, in one
// native call: announce the wake in state[1], check the closed flag in
// state[0], signal, withdraw. Done in JavaScript, a worker terminated
// between the announce and the withdraw would leave the count raised for
// ever and the closing side waiting on it.
Napi::Value Wake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  int32_t* state;
  if (!ArgTyped(info, 1, napi_int32_array, 2, &state, nullptr,
                "waker state must be an Int32Array of length 2")) {
    return env.Undefined();
  }
  __atomic_add_fetch(&state[1], 1, __ATOMIC_SEQ_CST);
  int r = __atomic_load_n(&state[0], __ATOMIC_SEQ_CST) != 0 ? -EBADF : WakeFd(fd);
  __atomic_sub_fetch(&state[1], 1, __ATOMIC_SEQ_CST);
  return Num(env, r);
}

}  // namespace

void ExportSys(Napi::Env env, Napi::Object exports) {
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  };
  static constexpr Entry kFns[] = {
      {"socket", Socket},       {"socketpair", SocketPair},
      {"bind", Bind},           {"connect", Connect},
      {"listen", Listen},       {"accept", Accept},
      {"read", Read},           {"write", Write},
      {"peek", Peek},           {"readv", Readv},
      {"writev", Writev},       {"recvFrom", RecvFrom},
      {"sendTo", SendTo},       {"shutdown", Shutdown},
      {"close", Close},         {"setSockOptInt", SetSockOptInt},
      {"getSockOptInt", GetSockOptInt}, {"getSockName", GetSockName},
      {"getPeerName", GetPeerName},     {"encodeInet", EncodeInet},
      {"encodeUnix", EncodeUnix},       {"decodeAddress", DecodeAddress},
      {"wake", Wake},
  };
  for (const Entry& e : kFns) {
    exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  }

  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, int v) { c.Set(name, Num(env, v)); };
  set("SLOT_SIZE", static_cast<int>(kSlotSize));
  set("AF_INET", AF_INET);
  set("AF_INET6", AF_INET6);
  set("AF_UNIX", AF_UNIX);
  set("SOCK_STREAM", SOCK_STREAM);
  set("SOCK_DGRAM", SOCK_DGRAM);
  set("SHUT_RD", SHUT_RD);
  set("SHUT_WR", SHUT_WR);
  set("SHUT_RDWR", SHUT_RDWR);
  set("SOL_SOCKET", SOL_SOCKET);
  set("IPPROTO_TCP", IPPROTO_TCP);
  set("IPPROTO_IPV6", IPPROTO_IPV6);
  set("SO_REUSEADDR", SO_REUSEADDR);
#ifdef SO_REUSEPORT
  set("SO_REUSEPORT", SO_REUSEPORT);
#endif
  set("SO_KEEPALIVE", SO_KEEPALIVE);
  set("SO_ERROR", SO_ERROR);
  set("SO_RCVBUF", SO_RCVBUF);
  set("SO_SNDBUF", SO_SNDBUF);
  set("SO_BROADCAST", SO_BROADCAST);
  set("TCP_NODELAY", TCP_NODELAY);
#ifdef TCP_KEEPIDLE
  set("TCP_KEEPIDLE", TCP_KEEPIDLE);
#elif defined(TCP_KEEPALIVE)
  set("TCP_KEEPIDLE", TCP_KEEPALIVE);
#endif
  set("IPV6_V6ONLY", IPV6_V6ONLY);
  set("EAGAIN", EAGAIN);
  set("EWOULDBLOCK", EWOULDBLOCK);
  set("EINPROGRESS", EINPROGRESS);
  set("EINTR", EINTR);
  set("ECONNABORTED", ECONNABORTED);
  set("EMFILE", EMFILE);
  set("ENFILE", ENFILE);
  exports.Set("constants", c);
}

}  // namespace edgeloop
