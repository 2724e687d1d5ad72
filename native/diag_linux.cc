// Linux: find the owner of one TCP socket by its exact 4-tuple with a
// netlink sock_diag request (inet_diag, no dump), without blocking.
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "diag.h"
#include "eintr.h"
#include "passwd.h"
#include "sys.h"

namespace edgeloop {

namespace {

constexpr size_t kRecord = 7;  // words per diagReceive record

// diagOpen(rcvbuf?) -> fd | -errno. A non-zero `rcvbuf` sets the socket's
// receive buffer in bytes: SO_RCVBUFFORCE first (past rmem_max, needs
// CAP_NET_ADMIN; its EPERM is expected otherwise), then SO_RCVBUF, which the
// kernel clamps to net.core.rmem_max. Answers that find the buffer full are
// dropped and the next recv fails with ENOBUFS, so a burst of queries wants
// room for all of their answers. Failing to grow it is not fatal.
Napi::Value DiagOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rcvbuf = 0;  // absent or undefined: the system default
  if (info.Length() > 0 && !info[0].IsUndefined() &&
      !ArgInt(info, 0, 0, INT32_MAX / 2, &rcvbuf,
              "rcvbuf must be an integer in [0, 2^30)")) {
    return env.Undefined();
  }
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  NETLINK_SOCK_DIAG);
  if (fd < 0) return Num(env, -errno);
  if (rcvbuf > 0) {
    int size = static_cast<int>(rcvbuf);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
  }
  AddonOf(env)->fds.Add(fd);
  return Num(env, fd);
}

// Reads a sockaddr out of an address slot (layout in sys.h); false when it
// is not inet. Copied out, so unlike ArgSlot it takes any alignment.
bool SlotAddr(const Napi::CallbackInfo& info, size_t i, sockaddr_storage* out) {
  uint8_t* data;
  size_t size;
  if (!ArgBytes(info, i, &data, &size)) return false;
  if (size < kSlotSize) {
    return ThrowRange(info.Env(), "address slot too small");
  }
  memcpy(out, data + kSlotHeader, sizeof *out);
  if (out->ss_family != AF_INET && out->ss_family != AF_INET6) {
    return ThrowType(info.Env(), "address must be IPv4 or IPv6");
  }
  return true;
}

// diagQuery(fd, seq, localSlot, peerSlot) -> 0 | -errno. Asks for the TCP
// socket (any state) whose local end is `local` and remote end is `peer`.
Napi::Value DiagQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint32_t seq;
  sockaddr_storage local, peer;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &seq, "seq out of range") ||
      !SlotAddr(info, 2, &local) || !SlotAddr(info, 3, &peer)) {
    return env.Undefined();
  }
  if (local.ss_family != peer.ss_family) {
    ThrowType(env, "local and peer addresses must be the same family");
    return env.Undefined();
  }
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;  // exact match, not a dump
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = static_cast<uint8_t>(local.ss_family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  if (local.ss_family == AF_INET) {
    auto* l = reinterpret_cast<sockaddr_in*>(&local);
    auto* p = reinterpret_cast<sockaddr_in*>(&peer);
    msg.req.id.idiag_sport = l->sin_port;
    msg.req.id.idiag_dport = p->sin_port;
    memcpy(msg.req.id.idiag_src, &l->sin_addr, 4);
    memcpy(msg.req.id.idiag_dst, &p->sin_addr, 4);
  } else {
    auto* l = reinterpret_cast<sockaddr_in6*>(&local);
    auto* p = reinterpret_cast<sockaddr_in6*>(&peer);
    msg.req.id.idiag_sport = l->sin6_port;
    msg.req.id.idiag_dport = p->sin6_port;
    memcpy(msg.req.id.idiag_src, &l->sin6_addr, 16);
    memcpy(msg.req.id.idiag_dst, &p->sin6_addr, 16);
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t r = RetryOnEintr([&] {
    return sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel),
                  sizeof kernel);
  });
  return Num(env, r < 0 ? -errno : 0);
}

// diagReceive(fd, out: Uint32Array) -> records | -errno. Each record is
// [seq, status, uid, inode, localPort, remotePort, state]: status 0 = found,
// otherwise the errno the kernel answered (ENOENT: no such socket). The
// ports let the caller reject the kernel's fallback to a listening socket,
// which an exact lookup returns when no connection has that 4-tuple.
Napi::Value DiagReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  uint32_t* out;
  size_t length;
  if (!ArgTyped(info, 1, napi_uint32_array, kRecord, &out, &length,
                "out must be a Uint32Array of at least 7 elements")) {
    return env.Undefined();
  }
  size_t max_records = length / kRecord;
  alignas(nlmsghdr) unsigned char buf[8192];
  ssize_t n = RetryOnEintr([&] { return recv(fd, buf, sizeof buf, 0); });
  if (n < 0) return Num(env, -errno);
  size_t count = 0;
  int len = static_cast<int>(n);
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len) && count < max_records;
       h = NLMSG_NEXT(h, len)) {
    uint32_t* rec = out + count * kRecord;
    if (h->nlmsg_type == NLMSG_ERROR) {
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) continue;
      auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
      if (e->error == 0) continue;  // an ack, not an answer
      rec[0] = h->nlmsg_seq;
      // Negated unsigned: the bytes came from whoever wrote to the fd, and
      // -INT_MIN is not an int.
      rec[1] = 0u - static_cast<uint32_t>(e->error);
      for (size_t k = 2; k < kRecord; k++) rec[k] = 0;
      count++;
    } else if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      rec[0] = h->nlmsg_seq;
      rec[1] = 0;
      rec[2] = m->idiag_uid;
      rec[3] = m->idiag_inode;
      rec[4] = ntohs(m->id.idiag_sport);
      rec[5] = ntohs(m->id.idiag_dport);
      rec[6] = m->idiag_state;
      count++;
    }
  }
  return Num(env, static_cast<double>(count));
}

}  // namespace

void ExportDiag(Napi::Env env, Napi::Object exports) {
  exports.Set("diagOpen", Napi::Function::New(env, DiagOpen, "diagOpen"));
  exports.Set("diagQuery", Napi::Function::New(env, DiagQuery, "diagQuery"));
  exports.Set("diagReceive", Napi::Function::New(env, DiagReceive, "diagReceive"));
  ExportPasswd(env, exports);
}

}  // namespace edgeloop
