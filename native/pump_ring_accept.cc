// Pump, the io_uring backend's listeners: a listener the loop added with
// no interest accepts through one multishot accept in the ring, so a turn's
// new connections arrive with its other completions, as kRecAccept records
// carrying the new fd, instead of as a readiness the loop answers with
// accept4 calls. An error ends the multishot; the loop decides when to
// accept again (after EMFILE it backs off), so policy stays in JS.
#include <errno.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "pump.h"

namespace edgeloop {

// accept(token, on) -> 0 | -errno (-ENOENT: not added; -EOPNOTSUPP: the
// selector backend, where listeners are watched for readiness instead).
Napi::Value Pump::Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t token;
  if (!ArgU32(info, 0, &token, "token out of range") || !CheckOpen(env)) return env.Undefined();
  if (ring_ == nullptr) return Napi::Number::New(env, -EOPNOTSUPP);
  Conn* c = Find(token);
  if (c == nullptr) return Napi::Number::New(env, -ENOENT);
  c->accepting = info.Length() > 1 && info[1].ToBoolean();
  int r = ApplyAccept(c);
  return Napi::Number::New(env, r < 0 ? r : Submitted(0));
}

// Starts or stops the listener's accept to match what the loop wants; one
// being cancelled re-arms from its last completion, as a recv does.
int Pump::ApplyAccept(Conn* c) {
  if (c->accepting && c->accept == kRecvIdle) {
    int r = ring_->QueueAccept(c->fd, RingUserData(kOpAccept, c->token));
    if (r < 0) return r;
    c->accept = kRecvArmed;
  } else if (!c->accepting && c->accept == kRecvArmed) {
    int r = ring_->QueueCancel(RingUserData(kOpAccept, c->token),
                               RingUserData(kOpCancel, c->token));
    if (r < 0) return r;
    c->accept = kRecvCancelling;
  }
  return 0;
}

// One accept completion as at most one record (0 or 1 returned). A
// connection accepted for a listener removed since is closed here: no
// record could name an owner for it.
uint32_t Pump::AcceptRecord(const Completion& cq, uint32_t* rec) {
  uint32_t token = static_cast<uint32_t>(cq.user_data);
  Conn* c = Find(token);
  if (c == nullptr) {
    if (cq.res >= 0) close(cq.res);
    return 0;
  }
  if (!cq.more) c->accept = kRecvIdle;
  uint32_t n = 0;
  if (cq.res >= 0) {
    AddonOf(Env())->fds.Add(cq.res);  // closed with the environment if JS never does
    PutRecord(rec, token, kRecAccept, static_cast<uint32_t>(cq.res), 0, 0);
    n = 1;
  } else if (cq.res != -ECANCELED) {
    c->accepting = false;  // until the loop asks again
    PutRecord(rec, token, kRecAccept | kRecError, 0, 0, static_cast<uint32_t>(-cq.res));
    n = 1;
  }
  if (c->accept == kRecvIdle) ApplyAccept(c);  // ended early, or cancelled and wanted again
  return n;
}

// Before the ring closes: stops every accept and closes the connections
// accepted but not yet handed to JS (stashed, or still in the queue).
void Pump::CloseStashedAccepts() {
  bool cancelled = false;
  for (Conn& c : conns_) {
    if (c.fd < 0 || c.accept != kRecvArmed) continue;
    c.accepting = false;
    cancelled = ApplyAccept(&c) == 0 || cancelled;
  }
  if (cancelled) ring_->Wait(0);
  Completion cq;
  while (ring_->Next(&cq)) {
    if (cq.bid >= 0) ring_->ReturnBuffer(static_cast<uint32_t>(cq.bid));
    stash_.push_back(cq);
  }
  for (size_t i = stash_next_; i < stash_.size(); i++) {
    const Completion& s = stash_[i];
    if ((s.user_data >> 32) == kOpAccept && s.res >= 0) close(s.res);
  }
  stash_.clear();
  stash_next_ = 0;
}

}  // namespace edgeloop
