// http/auth.hpp: HTTP Basic authentication (RFC 7617) for the admin endpoints
// and for writes to /api/, against salted password hashes.
//
//   --auth-users FILE        one user a line:  NAME:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX
//                            (make a line with serverlab-passwd; '#' starts a comment)
//   --auth-admins A,B        who may use /-/ (default: every user in the file)
//   --auth-writers A,B       who may POST/PUT/DELETE under /api/ (default: every user)
//
//   /-/health                open (load balancers and HEALTHCHECK probe it)
//   /-/... (metrics, form)   needs an admin      GET /api/...   open
//   POST/PUT/DELETE /api/... needs a writer      anything else  open
//
//   no or bad credentials   -> 401 + WWW-Authenticate: Basic realm="serverlab", charset="UTF-8"
//   a user not in the list  -> 403
//
// Hashes: PBKDF2-HMAC-SHA256 (OpenSSL's libcrypto), 32-byte key, a random salt
// per user; compared with CRYPTO_memcmp (constant time). PBKDF2 is slow on
// purpose (100,000 iterations: tens of milliseconds), so a verified
// Authorization value is remembered in a small fixed-size cache, keyed by its
// SHA-256 (never the password itself): a client that keeps sending the same
// credentials pays for PBKDF2 once. A wrong password always pays the full
// cost; the rate limiter, earlier in the chain, bounds how often.
//
// Secrets: the Authorization header is never logged or copied anywhere but
// into the SHA-256 input; the users file is read once at start-up.
//
// Who may call: load_users() from main() (through HttpService) before serving;
// AuthMiddleware::before() from any number of threads (the cache has a mutex).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/http/middleware.hpp"

namespace serverlab::http {

class StaticFiles;

struct AuthUser {
  std::string name;
  std::uint32_t iterations = 0;
  std::string salt;  // raw bytes
  std::string hash;  // raw bytes (32)
};

// Parses a users file's text; the error names the line ("line 3: ..."), or nullopt.
std::optional<std::string> parse_users(std::string_view text, std::vector<AuthUser>& users);
// Reads and parses a users file; the error names the file (and line), or nullopt.
// At least one user is required.
std::optional<std::string> load_users_file(const std::string& path, std::vector<AuthUser>& users);
// Splits "a,b,c" into names (empty text: none).
std::vector<std::string> split_names(std::string_view list);
// One users-file line for `name` and `password`, with a fresh random salt.
std::string make_user_line(std::string_view name, std::string_view password,
                           std::uint32_t iterations = 100000);
// True when `password` hashes to user.hash (constant-time compare).
bool verify_password(const AuthUser& user, std::string_view password);
// Decodes "Basic dXNlcjpwYXNz" into user and password; false when malformed.
bool parse_basic(std::string_view authorization, std::string& user, std::string& password);

class AuthMiddleware final : public Middleware {
 public:
  struct Options {
    std::vector<AuthUser> users;
    std::vector<std::string> admins;   // empty: every user
    std::vector<std::string> writers;  // empty: every user
  };
  AuthMiddleware(Options options, const StaticFiles& files);
  std::string_view name() const override { return "auth"; }
  bool before(Exchange& exchange, const Request& request, Response& response) const override;

 private:
  enum class Need { Nothing, Admin, Writer };
  static Need need_for(Method method, std::string_view path);
  // The user the Authorization value names, after checking the password; null when it fails.
  const AuthUser* authenticate(std::string_view authorization) const;
  bool allowed(Need need, const std::string& user) const;
  void refuse(int status, Response& response) const;

  static constexpr std::size_t kCacheSize = 64;
  struct CacheEntry {
    std::array<unsigned char, 32> digest{};  // SHA-256 of the Authorization value
    const AuthUser* user = nullptr;
  };

  Options options_;
  const StaticFiles& files_;
  mutable std::mutex cache_mutex_;
  mutable std::array<CacheEntry, kCacheSize> cache_{};  // guarded by cache_mutex_
  mutable std::size_t cache_next_ = 0;                  // guarded by cache_mutex_
};

}  // namespace serverlab::http
