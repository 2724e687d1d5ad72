#include "passwd.h"

#include <errno.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

#include "args.h"

namespace edgeloop {

namespace {

Napi::Value GetPwUidName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t uid;
  if (!ArgU32(info, 0, &uid, "uid out of range")) return env.Undefined();
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 1024);
  passwd pw;
  passwd* found = nullptr;
  for (;;) {
    int r = getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found);
    if (r == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (r != 0) return Napi::Number::New(env, -r);
    break;
  }
  if (found == nullptr) return env.Null();
  return Napi::String::New(env, found->pw_name);
}

}  // namespace

void ExportPasswd(Napi::Env env, Napi::Object exports) {
  exports.Set("getpwuidName", Napi::Function::New(env, GetPwUidName, "getpwuidName"));
}

}  // namespace edgeloop
