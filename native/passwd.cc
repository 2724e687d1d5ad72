#include "passwd.h"

#include <errno.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

#include "args.h"

namespace edgeloop {

namespace {

// Looks up `uid` with getpwuid_r, growing the buffer on ERANGE. Returns 0
// with *found null for no such user, or the errno of the failure.
int LookUp(uint32_t uid, std::vector<char>* buf, passwd* pw, passwd** found) {
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  buf->resize(hint > 0 ? static_cast<size_t>(hint) : 1024);
  for (;;) {
    int r = getpwuid_r(static_cast<uid_t>(uid), pw, buf->data(), buf->size(), found);
    if (r == ERANGE && buf->size() < (1u << 20)) {
      buf->resize(buf->size() * 2);
      continue;
    }
    return r;
  }
}

// One field of uid's passwd entry: a string, null (no such user) or -errno.
Napi::Value Field(const Napi::CallbackInfo& info, char* passwd::*field) {
  Napi::Env env = info.Env();
  uint32_t uid;
  if (!ArgU32(info, 0, &uid, "uid out of range")) return env.Undefined();
  std::vector<char> buf;
  passwd pw;
  passwd* found = nullptr;
  int r = LookUp(uid, &buf, &pw, &found);
  if (r != 0) return Napi::Number::New(env, -r);
  if (found == nullptr) return env.Null();
  return Napi::String::New(env, found->*field);
}

Napi::Value GetPwUidName(const Napi::CallbackInfo& info) { return Field(info, &passwd::pw_name); }

Napi::Value GetPwUidDir(const Napi::CallbackInfo& info) { return Field(info, &passwd::pw_dir); }

}  // namespace

void ExportPasswd(Napi::Env env, Napi::Object exports) {
  exports.Set("getpwuidName", Napi::Function::New(env, GetPwUidName, "getpwuidName"));
  exports.Set("getpwuidDir", Napi::Function::New(env, GetPwUidDir, "getpwuidDir"));
}

}  // namespace edgeloop
