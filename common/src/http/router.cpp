#include "serverlab/http/router.hpp"

namespace serverlab::http {
namespace {

std::size_t index_of(Method m) { return static_cast<std::size_t>(m); }

// "/p" covers "/p" and "/p/...", not "/pq". A prefix that ends in '/' covers what starts with it.
bool covers(std::string_view prefix, std::string_view path) {
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || prefix.ends_with('/') || path[prefix.size()] == '/';
}

}  // namespace

void Router::add(Match match, std::string path, std::initializer_list<Method> methods,
                 Handler handler, bool reads_body) {
  Entry* entry = nullptr;
  for (Entry& e : entries_)
    if (e.match == match && e.path == path) entry = &e;
  if (entry == nullptr) {
    entries_.push_back(Entry{match, std::move(path), {}, {}, {}});
    entry = &entries_.back();
  }
  for (Method m : methods) {
    entry->handlers[index_of(m)] = handler;
    entry->reads_body[index_of(m)] = reads_body;
  }
  rebuild_allow(*entry);
}

void Router::rebuild_allow(Entry& entry) {
  static constexpr std::array<std::pair<Method, std::string_view>, 7> kOrder = {{
      {Method::Get, "GET"}, {Method::Head, "HEAD"}, {Method::Post, "POST"}, {Method::Put, "PUT"},
      {Method::Patch, "PATCH"}, {Method::Delete, "DELETE"}, {Method::Options, "OPTIONS"}}};
  entry.allow.clear();
  for (auto [method, token] : kOrder) {
    bool routed = entry.handlers[index_of(method)] != nullptr ||
                  (method == Method::Head && entry.handlers[index_of(Method::Get)] != nullptr);
    if (!routed) continue;
    if (!entry.allow.empty()) entry.allow += ", ";
    entry.allow += token;
  }
}

const Router::Entry* Router::lookup(std::string_view path) const {
  const Entry* best = nullptr;
  for (const Entry& e : entries_) {
    if (e.match == Match::Exact) {
      if (e.path == path) return &e;
    } else if (covers(e.path, path) && (best == nullptr || e.path.size() > best->path.size())) {
      best = &e;
    }
  }
  return best;
}

Router::Found Router::find(Method method, std::string_view path) const {
  const Entry* entry = lookup(path);
  if (entry == nullptr) return {};
  std::size_t i = index_of(method);
  if (entry->handlers[i] == nullptr && method == Method::Head) i = index_of(Method::Get);
  if (entry->handlers[i] == nullptr) return {Found::MethodNotAllowed, nullptr, false, entry->allow};
  return {Found::Handled, &entry->handlers[i], entry->reads_body[i], {}};
}

}  // namespace serverlab::http
