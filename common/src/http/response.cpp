#include "serverlab/http/response.hpp"

#include <fmt/format.h>

#include <utility>

#include "serverlab/http/file_cache.hpp"

namespace serverlab::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void Response::reset() {
  status = 200;
  close = false;
  send_body = true;
  content_type = {};
  last_modified = {};
  etag = {};
  accept_ranges = false;
  extra_headers.clear();
  content_length = 0;
  text = {};
  owned_text.clear();
  file = {};
  parts.clear();
}

void Response::add_header(std::string_view name, std::string_view value) {
  extra_headers.append(name);
  extra_headers.append(": ");
  extra_headers.append(value);
  extra_headers.append("\r\n");
}

void Response::set_owned_body(std::string_view content_type_value, std::string body) {
  owned_text = std::move(body);
  text = owned_text;
  content_type = content_type_value;
  content_length = owned_text.size();
}

namespace {

void append_header(Buffer& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

}  // namespace

void append_response_head(Buffer& out, const Response& r, bool keep_alive,
                          std::string_view date) {
  out.ensure_writable(256 + r.extra_headers.size());
  out.append("HTTP/1.1 ");
  fmt::format_int status(r.status);
  out.append(status.data(), status.size());
  out.append(" ", 1);
  out.append(reason_phrase(r.status));
  out.append("\r\nServer: serverlab\r\n");
  append_header(out, "Date", date);
  if (!r.content_type.empty()) append_header(out, "Content-Type", r.content_type);
  fmt::format_int length(r.content_length);
  append_header(out, "Content-Length", {length.data(), length.size()});
  if (!r.last_modified.empty()) append_header(out, "Last-Modified", r.last_modified);
  if (!r.etag.empty()) append_header(out, "ETag", r.etag);
  if (r.accept_ranges) out.append("Accept-Ranges: bytes\r\n");
  out.append(r.extra_headers);
  out.append(keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

}  // namespace serverlab::http
