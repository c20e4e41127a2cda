#include "serverlab/http/request_id.hpp"

#include <sys/random.h>

#include <cstdint>
#include <cstring>

namespace serverlab::http {
namespace {

bool id_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("-_.:+/=@", c) != nullptr && c != '\0';
}

void append_hex(std::string& out, std::uint64_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xf]);
}

struct IdState {
  std::uint64_t prefix = 0;
  std::uint32_t counter = 0;
  bool seeded = false;
};

}  // namespace

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id)
    if (!id_char(c)) return false;
  return true;
}

void make_request_id(std::string& out) {
  thread_local IdState state;
  if (!state.seeded) {
    std::uint64_t seed[2] = {0, 0};
    // getrandom of 16 bytes does not fail once the pool is ready; if it ever
    // did, the address of the state and the time still tell threads apart.
    if (::getrandom(seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
      seed[0] = reinterpret_cast<std::uintptr_t>(&state) ^ static_cast<std::uint64_t>(::time(nullptr));
    }
    state.prefix = seed[0];
    state.counter = static_cast<std::uint32_t>(seed[1]);
    state.seeded = true;
  }
  out.clear();
  append_hex(out, state.prefix, 16);
  out.push_back('-');
  append_hex(out, state.counter++, 8);
}

bool RequestIdMiddleware::before(Exchange& exchange, const Request& request, Response&) const {
  if (exchange.request_id == nullptr) return true;
  std::optional<std::string_view> sent = request.header("X-Request-Id");
  if (sent && valid_request_id(*sent)) exchange.request_id->assign(*sent);
  else make_request_id(*exchange.request_id);
  return true;
}

void RequestIdMiddleware::after(Exchange& exchange, const Request&, Response& response) const {
  if (exchange.request_id != nullptr && !exchange.request_id->empty())
    response.add_header("X-Request-Id", *exchange.request_id);
}

}  // namespace serverlab::http
