// Address slots (see sys.h): numeric hosts and Unix paths encoded into
// them, sockaddrs decoded out of them, and the socket-name calls that fill
// them. The only file that knows a sockaddr's layout.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "args.h"
#include "sys.h"

namespace edgeloop {

bool ArgSlot(const Napi::CallbackInfo& info, size_t i, Slot* slot) {
  uint8_t* data;
  size_t size;
  if (!ArgBytes(info, i, &data, &size)) return false;
  if (size < kSlotSize) return ThrowRange(info.Env(), "address slot too small");
  // Uint8Arrays are not guaranteed aligned, and the slot is read through
  // uint32_t and sockaddr pointers: a misaligned one is refused.
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

void StoreSender(int fd, const Slot& s, socklen_t alen) {
  if (alen > 0) {
    *s.len = alen;
    return;
  }
  // The kernel named no sender. Linux does that for an unbound Unix
  // sender, which is an unnamed Unix address; a stream socket (TCP) does
  // it because it has no per-read sender at all. Only our own socket's
  // family tells the two apart; this costs a syscall, but never on a UDP
  // or bound-sender read, which always come with an address.
  struct sockaddr_storage own;
  socklen_t olen = sizeof own;
  bool unix_socket =
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&own), &olen) == 0 &&
      olen >= offsetof(struct sockaddr_un, sun_path) && own.ss_family == AF_UNIX;
  if (unix_socket) {
    auto* un = reinterpret_cast<struct sockaddr_un*>(s.addr);
    un->sun_family = AF_UNIX;
    un->sun_path[0] = '\0';
#ifdef __APPLE__
    un->sun_len = offsetof(struct sockaddr_un, sun_path);
#endif
    *s.len = offsetof(struct sockaddr_un, sun_path);
  } else {
    // Cleared too, so nothing that reads the family alone mistakes a
    // previous sender for this one.
    s.addr->ss_family = AF_UNSPEC;
    *s.len = 0;
  }
}

namespace {

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

// The interface index an IPv6 %scope names, or 0 for none: decimal digits
// only (strtoul would also take a sign and leading blanks), else an
// interface name.
uint32_t ScopeId(const std::string& scope) {
  if (scope.empty()) return 0;
  uint64_t id = 0;
  for (char c : scope) {
    if (c < '0' || c > '9') return if_nametoindex(scope.c_str());
    id = id * 10 + static_cast<uint64_t>(c - '0');
    if (id > UINT32_MAX) return 0;
  }
  return static_cast<uint32_t>(id);
}

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
  // inet_pton and if_nametoindex stop at a NUL: without this check
  // '127.0.0.1\0anything' would encode as 127.0.0.1.
  if (strlen(host.c_str()) != host.size()) return Num(env, -EINVAL);
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
    uint32_t id = ScopeId(host.substr(pct + 1));
    if (id == 0) return Num(env, -EINVAL);
    v6->sin6_scope_id = id;
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
  size_t start = abstract ? 1 : 0;
  // A path needs room for its terminating NUL; an abstract name does not.
  size_t room = sizeof un->sun_path - start - (abstract ? 0 : 1);
  if (len > room) return Num(env, -ENAMETOOLONG);
  // Copied out before the slot is cleared: the path may be a view of the
  // slot itself. An empty buffer's data may be null, which memcpy must not
  // be given even for zero bytes.
  char name[sizeof un->sun_path];
  if (len > 0) memcpy(name, path, len);
  if (!abstract && memchr(name, 0, len) != nullptr) return Num(env, -EINVAL);
  memset(un, 0, sizeof *un);
  un->sun_family = AF_UNIX;
  if (len > 0) memcpy(un->sun_path + start, name, len);
  *s.len = static_cast<uint32_t>(offsetof(struct sockaddr_un, sun_path) + start +
                                 len + (abstract ? 0 : 1));
  return Num(env, 0);
}

// decodeAddress(slot) -> { family, address, port, flowinfo, scopeid } for
// inet, { family: 'unix', path: Buffer, abstract } for unix; null for an
// empty slot (length 0: no address, see StoreSender) or another family.
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

}  // namespace

void ExportSysAddress(Napi::Env env, Napi::Object exports) {
  static constexpr SysFunction kFns[] = {
      {"getSockName", GetSockName}, {"getPeerName", GetPeerName},
      {"encodeInet", EncodeInet},   {"encodeUnix", EncodeUnix},
      {"decodeAddress", DecodeAddress},
  };
  ExportFunctions(env, exports, kFns);
}

}  // namespace edgeloop
