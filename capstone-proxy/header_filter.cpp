// header_filter.cpp: see header_filter.hpp.
#include "header_filter.hpp"

namespace serverlab::proxy {
namespace {

// [[maybe_unused]]: the lab stub of is_hop_by_hop uses neither helper.
[[maybe_unused]] std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

[[maybe_unused]] bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

bool is_hop_by_hop(std::string_view name, std::string_view connection) {
  // [lab21:hop-by-hop:begin]
  // [lab21:hop-by-hop:stub] (void)name;
  // [lab21:hop-by-hop:stub] (void)connection;
  // [lab21:hop-by-hop:stub] return false;  // passes every field on
  for (std::string_view fixed : {"Connection", "Keep-Alive", "TE", "Trailer", "Upgrade"}) {
    if (http::iequals(name, fixed)) return true;
  }
  if (starts_with_nocase(name, "Proxy-")) return true;
  // Every token of Connection names one more field of this hop.
  while (!connection.empty()) {
    std::size_t comma = connection.find(',');
    std::string_view token = trim(connection.substr(0, comma));
    if (!token.empty() && http::iequals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
  // [lab21:hop-by-hop:end]
}

bool forward_field(std::string_view name, std::string_view connection) {
  if (is_hop_by_hop(name, connection)) return false;
  for (std::string_view own : {"Content-Length", "Transfer-Encoding", "Host", "Forwarded",
                               "X-Forwarded-For", "X-Forwarded-Proto", "Via"}) {
    if (http::iequals(name, own)) return false;
  }
  return true;
}

void append_forwarding(std::string& out, const ForwardInfo& info) {
  const bool v6 = info.client_ip.find(':') != std::string_view::npos;

  out += "X-Forwarded-For: ";
  if (!info.prior_xff.empty()) {
    out += info.prior_xff;
    out += ", ";
  }
  out += info.client_ip;
  out += "\r\nX-Forwarded-Proto: ";
  out += info.proto;

  out += "\r\nForwarded: ";
  if (!info.prior_forwarded.empty()) {
    out += info.prior_forwarded;
    out += ", ";
  }
  out += v6 ? "for=\"[" : "for=";
  out += info.client_ip;
  out += v6 ? "]\"" : "";
  out += ";proto=";
  out += info.proto;
  const bool quotable = info.host.find_first_of("\"\\") == std::string_view::npos;
  if (!info.host.empty() && quotable) {
    out += ";host=\"";
    out += info.host;
    out += '"';
  }

  out += "\r\nVia: ";
  if (!info.prior_via.empty()) {
    out += info.prior_via;
    out += ", ";
  }
  out += info.version_minor == 0 ? "1.0" : "1.1";
  out += " serverlab-proxy\r\n";
}

}  // namespace serverlab::proxy
