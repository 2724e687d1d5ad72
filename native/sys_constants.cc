// The `constants` object: the platform's numbers for the socket calls,
// read from its headers so TypeScript never hard-codes one. A constant the
// platform lacks is left out (src/native.ts marks those optional).
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "sys.h"

namespace edgeloop {

void ExportSysConstants(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, int v) { c.Set(name, Num(env, v)); };
  set("SLOT_SIZE", static_cast<int>(kSlotSize));
  set("SLOT_HEADER", static_cast<int>(kSlotHeader));
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
  set("ENOBUFS", ENOBUFS);
  exports.Set("constants", c);
}

}  // namespace edgeloop
