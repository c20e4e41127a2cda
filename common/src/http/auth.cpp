#include "serverlab/http/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "serverlab/http/static_files.hpp"

namespace serverlab::http {
namespace {

constexpr std::size_t kHashBytes = 32;
constexpr std::string_view kScheme = "pbkdf2-sha256";

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
    if (ec != std::errc() || end != hex.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(value));
  }
  return out;
}

std::string pbkdf2(std::string_view password, std::string_view salt, std::uint32_t iterations) {
  std::string key(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(key.size()), reinterpret_cast<unsigned char*>(key.data())) != 1)
    throw std::runtime_error("PBKDF2 failed");
  return key;
}

// Splits "a:b:c" at ':' into at most `n` fields (the last keeps any further ':').
std::vector<std::string_view> split(std::string_view s, char sep, std::size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    std::size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with padding (RFC 4648 4); nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = base64_value(c)) < 0) {
        return std::nullopt;
      }
    }
    unsigned bits = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                    (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((bits >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::optional<std::string> parse_users(std::string_view text, std::vector<AuthUser>& users) {
  int number = 0;
  while (!text.empty()) {
    ++number;
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    auto where = [number](std::string_view what) { return "line " + std::to_string(number) + ": " + std::string(what); };
    auto f = split(line, ':', 5);
    if (f.size() != 5) return where("expected NAME:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX");
    if (f[0].empty()) return where("empty user name");
    if (f[1] != kScheme) return where("unknown scheme '" + std::string(f[1]) + "' (pbkdf2-sha256 only)");
    AuthUser user;
    user.name = f[0];
    auto [end, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), user.iterations);
    if (ec != std::errc() || end != f[2].data() + f[2].size() || user.iterations < 1000 ||
        user.iterations > 10000000)
      return where("iterations must be a number from 1000 to 10000000");
    auto salt = from_hex(f[3]);
    auto hash = from_hex(f[4]);
    if (!salt || salt->size() < 8) return where("the salt must be at least 8 bytes, in hex");
    if (!hash || hash->size() != kHashBytes) return where("the hash must be 32 bytes, in hex");
    user.salt = std::move(*salt);
    user.hash = std::move(*hash);
    for (const AuthUser& u : users)
      if (u.name == user.name) return where("user '" + user.name + "' appears twice");
    users.push_back(std::move(user));
  }
  return std::nullopt;
}

std::optional<std::string> load_users_file(const std::string& path, std::vector<AuthUser>& users) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read " + path;
  std::ostringstream text;
  text << in.rdbuf();
  if (auto problem = parse_users(text.str(), users)) return path + ": " + *problem;
  if (users.empty()) return path + ": no users";
  return std::nullopt;
}

std::vector<std::string> split_names(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) out.emplace_back(name);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  return out;
}

std::string make_user_line(std::string_view name, std::string_view password,
                           std::uint32_t iterations) {
  std::string salt(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) != 1)
    throw std::runtime_error("no random bytes for a salt");
  return std::string(name) + ":" + std::string(kScheme) + ":" + std::to_string(iterations) + ":" +
         to_hex(salt) + ":" + to_hex(pbkdf2(password, salt, iterations));
}

bool verify_password(const AuthUser& user, std::string_view password) {
  std::string key = pbkdf2(password, user.salt, user.iterations);
  return key.size() == user.hash.size() &&
         CRYPTO_memcmp(key.data(), user.hash.data(), key.size()) == 0;
}

bool parse_basic(std::string_view authorization, std::string& user, std::string& password) {
  constexpr std::string_view kBasic = "Basic ";
  if (authorization.size() <= kBasic.size() || !iequals(authorization.substr(0, kBasic.size()), kBasic))
    return false;
  std::string_view encoded = authorization.substr(kBasic.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  std::optional<std::string> decoded = base64_decode(encoded);
  if (!decoded) return false;
  std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  user.assign(*decoded, 0, colon);
  password.assign(*decoded, colon + 1);
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return true;
}

AuthMiddleware::AuthMiddleware(Options options, const StaticFiles& files)
    : options_(std::move(options)), files_(files) {}

AuthMiddleware::Need AuthMiddleware::need_for(Method method, std::string_view path) {
  if (path.starts_with("/-/")) return path == "/-/health" ? Need::Nothing : Need::Admin;
  if ((path.starts_with("/api/") || path == "/api") && method != Method::Get &&
      method != Method::Head)
    return Need::Writer;
  return Need::Nothing;
}

bool AuthMiddleware::allowed(Need need, const std::string& user) const {
  return listed(need == Need::Admin ? options_.admins : options_.writers, user);
}

const AuthUser* AuthMiddleware::authenticate(std::string_view authorization) const {
  CacheEntry probe;
  SHA256(reinterpret_cast<const unsigned char*>(authorization.data()), authorization.size(),
         probe.digest.data());
  {
    std::lock_guard lock(cache_mutex_);
    for (const CacheEntry& e : cache_) {
      if (e.user != nullptr && CRYPTO_memcmp(e.digest.data(), probe.digest.data(), 32) == 0)
        return e.user;
    }
  }
  std::string name;
  std::string password;
  if (!parse_basic(authorization, name, password)) return nullptr;
  const AuthUser* found = nullptr;
  for (const AuthUser& u : options_.users)
    if (u.name == name) found = &u;
  // An unknown user costs a PBKDF2 run too, so the time taken does not say which names exist.
  bool ok = found != nullptr ? verify_password(*found, password)
                             : (verify_password(options_.users.front(), password), false);
  OPENSSL_cleanse(password.data(), password.size());
  if (!ok) return nullptr;
  std::lock_guard lock(cache_mutex_);
  probe.user = found;
  cache_[cache_next_] = probe;
  cache_next_ = (cache_next_ + 1) % kCacheSize;
  return found;
}

void AuthMiddleware::refuse(int status, Response& response) const {
  files_.error(status, response);
  if (status == 401) response.add_header("WWW-Authenticate", "Basic realm=\"serverlab\", charset=\"UTF-8\"");
}

bool AuthMiddleware::before(Exchange& exchange, const Request& request, Response& response) const {
  Need need = need_for(request.method, exchange.path);
  if (need == Need::Nothing) return true;
  std::optional<std::string_view> authorization = request.header("Authorization");
  const AuthUser* user = authorization ? authenticate(*authorization) : nullptr;
  if (user == nullptr) {
    refuse(401, response);
    return false;
  }
  if (!allowed(need, user->name)) {
    refuse(403, response);
    return false;
  }
  return true;
}

}  // namespace serverlab::http
