// LinuxRing set-up: the ring itself, its mappings, the provided buffer
// ring over the caller's arena, and the checks that name what a kernel
// lacks (see docs/IO_URING.md for the version each piece needs).
#include "ring_linux.h"

#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cstdlib>

namespace edgeloop {

namespace {

constexpr unsigned kSqEntries = 1024;

int RegisterOp(int fd, unsigned op, void* arg, unsigned n) {
  int r = static_cast<int>(syscall(__NR_io_uring_register, fd, op, arg, n));
  return r < 0 ? -errno : r;
}

std::string Errno(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

bool LinuxRing::Init(uint8_t* arena, uint32_t size, uint32_t count, std::string* why) {
  // The cheapest completion mode the kernel accepts, newest first. Not
  // DEFER_TASKRUN: its deferred work signals neither the ring fd's poll nor
  // a registered eventfd until this thread enters the ring itself, so an
  // attach()ed loop, woken only through the fd uv_poll watches, would sleep
  // on completions that are already there (seen on Linux 6.18).
  static const struct {
    unsigned flags;
    const char* name;
  } kModes[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "single-issuer, coop-taskrun"},
      {IORING_SETUP_COOP_TASKRUN, "coop-taskrun"},
      {0, "plain"},
  };
  io_uring_params p;
  int err = ENOSYS;
  for (const auto& m : kModes) {
    std::memset(&p, 0, sizeof p);
    p.flags = m.flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = Ring::kCompletionQueueSize;
    fd_ = static_cast<int>(syscall(__NR_io_uring_setup, kSqEntries, &p));
    if (fd_ >= 0) {
      mode_ = m.name;
      break;
    }
    err = errno;
  }
  if (fd_ < 0) {
    *why = err == EPERM ? "io_uring_setup: not permitted (kernel.io_uring_disabled, or a seccomp filter)"
                        : Errno("io_uring_setup", err);
    return false;
  }
  static const struct {
    unsigned bit;
    const char* name;
  } kFeatures[] = {
      {IORING_FEAT_SINGLE_MMAP, "IORING_FEAT_SINGLE_MMAP (Linux 5.4)"},
      {IORING_FEAT_NODROP, "IORING_FEAT_NODROP (Linux 5.5)"},
      {IORING_FEAT_EXT_ARG, "IORING_FEAT_EXT_ARG (Linux 5.11)"},
  };
  for (const auto& f : kFeatures) {
    if ((p.features & f.bit) == 0) {
      *why = std::string("kernel lacks ") + f.name;
      return false;
    }
  }
  arena_ = arena;
  size_ = size;
  count_ = count;
  if (!MapRings(p, why) || !CheckOps(why) || !RegisterBuffers(why)) return false;
  // A registered ring fd spares the kernel an fd lookup per enter (5.18).
  io_uring_rsrc_update up{};
  up.offset = -1U;
  up.data = static_cast<uint64_t>(fd_);
  if (RegisterOp(fd_, IORING_REGISTER_RING_FDS, &up, 1) == 1) {
    enter_fd_ = up.offset;
    enter_flags_ = IORING_ENTER_REGISTERED_RING;
  } else {
    enter_fd_ = static_cast<unsigned>(fd_);
  }
  return CheckMultishotRecv(why);
}

bool LinuxRing::MapRings(const io_uring_params& p, std::string* why) {
  size_t sq = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  rings_size_ = sq > cq ? sq : cq;  // one mapping holds both rings
  rings_ = mmap(nullptr, rings_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                IORING_OFF_SQ_RING);
  if (rings_ == MAP_FAILED) {
    *why = Errno("mmap of the io_uring rings", errno);
    return false;
  }
  sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
  void* s = mmap(nullptr, sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                 IORING_OFF_SQES);
  if (s == MAP_FAILED) {
    *why = Errno("mmap of the io_uring SQEs", errno);
    return false;
  }
  sqes_ = static_cast<io_uring_sqe*>(s);
  char* base = static_cast<char*>(rings_);
  sq_head_ = reinterpret_cast<unsigned*>(base + p.sq_off.head);
  sq_tail_ = reinterpret_cast<unsigned*>(base + p.sq_off.tail);
  sq_mask_ = *reinterpret_cast<unsigned*>(base + p.sq_off.ring_mask);
  sq_entries_ = p.sq_entries;
  unsigned* array = reinterpret_cast<unsigned*>(base + p.sq_off.array);
  for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i;  // SQE i in slot i
  sq_local_ = *sq_tail_;
  cq_head_ = reinterpret_cast<unsigned*>(base + p.cq_off.head);
  cq_tail_ = reinterpret_cast<unsigned*>(base + p.cq_off.tail);
  cq_mask_ = *reinterpret_cast<unsigned*>(base + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(base + p.cq_off.cqes);
  return true;
}

bool LinuxRing::CheckOps(std::string* why) {
  constexpr unsigned kOps = 256;
  size_t bytes = sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op);
  io_uring_probe* probe = static_cast<io_uring_probe*>(std::calloc(1, bytes));
  if (probe == nullptr) {
    *why = "out of memory";
    return false;
  }
  int r = RegisterOp(fd_, IORING_REGISTER_PROBE, probe, kOps);
  static const struct {
    unsigned op;
    const char* name;
  } kNeeded[] = {
      {IORING_OP_RECV, "IORING_OP_RECV (Linux 5.6)"},
      {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD (Linux 5.1)"},
      {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL (Linux 5.5)"},
      {IORING_OP_SENDMSG, "IORING_OP_SENDMSG (Linux 5.3)"},
      {IORING_OP_ACCEPT, "IORING_OP_ACCEPT (Linux 5.5; multishot 5.19)"},
  };
  bool ok = r >= 0;
  if (!ok) *why = Errno("IORING_REGISTER_PROBE (Linux 5.6)", -r);
  for (const auto& n : kNeeded) {
    if (ok && (n.op > probe->last_op || (probe->ops[n.op].flags & IO_URING_OP_SUPPORTED) == 0)) {
      *why = std::string("kernel lacks ") + n.name;
      ok = false;
    }
  }
  std::free(probe);
  return ok;
}

bool LinuxRing::RegisterBuffers(std::string* why) {
  // The ring of buffer descriptors must be page-aligned memory of our own;
  // the buffers it points at are the caller's arena.
  buf_ring_size_ = static_cast<size_t>(count_) * sizeof(io_uring_buf);
  void* m = mmap(nullptr, buf_ring_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (m == MAP_FAILED) {
    *why = Errno("mmap of the buffer ring", errno);
    return false;
  }
  buf_ring_ = m;
  buf_entries_ = static_cast<io_uring_buf*>(m);
  buf_ring_tail_ = reinterpret_cast<uint16_t*>(static_cast<char*>(m) + offsetof(io_uring_buf, resv));
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(m);
  reg.ring_entries = count_;
  reg.bgid = kBufferGroup;
  int r = RegisterOp(fd_, IORING_REGISTER_PBUF_RING, &reg, 1);
  if (r < 0) {
    *why = Errno("IORING_REGISTER_PBUF_RING (provided buffer rings, Linux 5.19)", -r);
    return false;
  }
  held_ = count_;
  for (uint32_t i = 0; i < count_; i++) ReturnBuffer(i);
  PublishBuffers();
  return true;
}

// Multishot recv (Linux 6.0) has no opcode of its own to probe: arm one on
// a socket pair with a byte waiting and see it complete and stay armed.
bool LinuxRing::CheckMultishotRecv(std::string* why) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    *why = Errno("socketpair", errno);
    return false;
  }
  const uint64_t kRecv = 1, kCancel = 2;
  bool ok = write(sv[1], "x", 1) == 1 && QueueRecv(sv[0], kRecv) == 0 && Wait(0) >= 0;
  Completion c{};
  bool armed = false, answered = false, multishot = false;
  int res = 0;
  while (ok && Next(&c)) {
    if (c.bid >= 0) ReturnBuffer(static_cast<uint32_t>(c.bid));
    if (c.user_data != kRecv) continue;
    if (!answered) multishot = c.more;
    answered = true;
    armed = c.more;
    res = c.res;
  }
  if (armed) {
    QueueCancel(kRecv, kCancel);
    // Until the recv's last completion: nothing of it may outlive the check.
    for (int i = 0; i < 100 && armed && Wait(0) >= 0; i++) {
      while (Next(&c)) {
        if (c.bid >= 0) ReturnBuffer(static_cast<uint32_t>(c.bid));
        if (c.user_data == kRecv && !c.more) armed = false;
      }
    }
  }
  PublishBuffers();
  close(sv[0]);
  close(sv[1]);
  if (ok && answered && res == 1 && multishot && !armed) return true;
  *why = !answered ? "multishot recv did not complete"
         : res == -EINVAL || (res == 1 && !multishot) ? "kernel lacks multishot recv (IORING_RECV_MULTISHOT, Linux 6.0)"
                          : Errno("multishot recv", res < 0 ? -res : EIO);
  return false;
}

int LinuxRing::EventFd() {
  if (event_fd_ >= 0 || fd_ < 0) return fd_ < 0 ? -EBADF : event_fd_;
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return -errno;
  int r = RegisterOp(fd_, IORING_REGISTER_EVENTFD, &efd, 1);
  if (r < 0) {
    close(efd);
    return r;
  }
  event_fd_ = efd;
  return efd;
}

// Ends the ring: in-flight requests are cancelled and no buffer is written
// after. The mappings stay until destruction, so a call after Close reads
// and writes memory that is still ours.
void LinuxRing::Close() {
  if (event_fd_ >= 0) {
    close(event_fd_);
    event_fd_ = -1;
  }
  if (fd_ < 0) return;
  if (enter_flags_ & IORING_ENTER_REGISTERED_RING) {
    // The registered slot holds the ring open too.
    io_uring_rsrc_update up{};
    up.offset = enter_fd_;
    RegisterOp(fd_, IORING_UNREGISTER_RING_FDS, &up, 1);
    enter_flags_ = 0;
  }
  close(fd_);
  fd_ = -1;
}

LinuxRing::~LinuxRing() {
  Close();
  if (rings_ != MAP_FAILED) munmap(rings_, rings_size_);
  if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_size_);
}

std::unique_ptr<Ring> Ring::Open(uint8_t* arena, uint32_t size, uint32_t count,
                                 std::string* why) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0 || size == 0) {
    *why = "buffer count must be a power of two up to 32768";
    return nullptr;
  }
  std::unique_ptr<LinuxRing> ring(new LinuxRing());
  if (!ring->Init(arena, size, count, why)) return nullptr;
  return ring;
}

std::string Ring::Probe() {
  // A small arena of our own: Open's checks need buffers to recv into.
  uint8_t scratch[2 * 64];
  std::string why;
  std::unique_ptr<Ring> ring = Open(scratch, 64, 2, &why);
  return ring != nullptr ? std::string() : why;
}

}  // namespace edgeloop
