// http/request.cpp: the small helpers behind Request (see request.hpp).
#include "serverlab/http/request.hpp"

#include <cstddef>

namespace serverlab::http {
namespace {

constexpr unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) !=
        ascii_lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Methods are case-sensitive (RFC 9110 9.1): "get" is an unknown method, not GET.
Method method_from_token(std::string_view token) {
  switch (token.size()) {
    case 3:
      if (token == "GET") return Method::Get;
      if (token == "PUT") return Method::Put;
      break;
    case 4:
      if (token == "HEAD") return Method::Head;
      if (token == "POST") return Method::Post;
      break;
    case 5:
      if (token == "PATCH") return Method::Patch;
      if (token == "TRACE") return Method::Trace;
      break;
    case 6:
      if (token == "DELETE") return Method::Delete;
      break;
    case 7:
      if (token == "OPTIONS") return Method::Options;
      if (token == "CONNECT") return Method::Connect;
      break;
    default:
      break;
  }
  return Method::Unknown;
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

void Request::clear() {
  method_token = {};
  method = Method::Unknown;
  target = {};
  path = {};
  query = {};
  version_minor = 1;
  headers.clear();  // keeps capacity: no allocation on the next request
  host = {};
  content_length.reset();
  chunked = false;
  keep_alive = true;
  expect_continue = false;
}

}  // namespace serverlab::http
