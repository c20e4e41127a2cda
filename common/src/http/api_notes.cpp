#include "serverlab/http/api_notes.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

namespace serverlab::http {
namespace {

constexpr std::string_view kJsonType = "application/json";
constexpr std::string_view kPrefix = "/api/notes/";

void answer(Response& r, int status, std::string body) {
  r.status = status;
  r.set_owned_body(kJsonType, std::move(body));
  r.add_header("Cache-Control", "no-store");
}

void error(Response& r, int status, std::string_view message) {
  answer(r, status, nlohmann::json{{"error", message}}.dump() + "\n");
}

// "application/json", any case, optionally followed by ";" and parameters.
bool is_json(const Request& request) {
  std::string_view type = request.header("Content-Type").value_or("");
  std::string_view media = type.substr(0, type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return iequals(media, kJsonType);
}

// "17" -> 17; anything else (empty, signs, leading zeros, letters, overflow) -> nullopt.
std::optional<std::uint64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 19 || text[0] == '0') return std::nullopt;
  std::uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

// Reads a note from a request body: the error message, or nullopt with title/body set.
std::optional<std::string> read_note(std::string_view json, std::string& title, std::string& body) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "the body is not valid JSON";
  if (!j.is_object()) return "the body must be a JSON object";
  auto t = j.find("title");
  if (t == j.end() || !t->is_string()) return "\"title\" must be a string";
  title = t->get<std::string>();
  if (title.empty() || title.size() > NotesApi::kMaxTitle) return "\"title\" must be 1 to 200 bytes";
  body.clear();
  if (auto b = j.find("body"); b != j.end()) {
    if (!b->is_string()) return "\"body\" must be a string";
    body = b->get<std::string>();
    if (body.size() > NotesApi::kMaxBody) return "\"body\" must be at most 65536 bytes";
  }
  return std::nullopt;
}

}  // namespace

std::string NotesApi::to_json(std::uint64_t id, const Note& note) {
  // Invalid UTF-8 cannot reach here (the parser refused it), so dump() never throws.
  return nlohmann::json{{"id", id}, {"title", note.title}, {"body", note.body}}.dump();
}

void NotesApi::install(HttpService& service) {
  using M = Method;
  service.add_route(Router::Match::Exact, "/api/notes", {M::Get},
                    [this](Exchange&, const Request&, Response& r) { list(r); });
  service.add_route(
      Router::Match::Exact, "/api/notes", {M::Post},
      [this](Exchange& ex, const Request& req, Response& r) { create(req, ex.body, r); }, true);
  service.add_route(Router::Match::Prefix, std::string(kPrefix), {M::Get},
                    [this](Exchange& ex, const Request&, Response& r) {
                      get(ex.path.substr(kPrefix.size()), r);
                    });
  service.add_route(Router::Match::Prefix, std::string(kPrefix), {M::Delete},
                    [this](Exchange& ex, const Request&, Response& r) {
                      remove(ex.path.substr(kPrefix.size()), r);
                    });
  service.add_route(
      Router::Match::Prefix, std::string(kPrefix), {M::Put},
      [this](Exchange& ex, const Request& req, Response& r) {
        replace(req, ex.path.substr(kPrefix.size()), ex.body, r);
      },
      true);
}

void NotesApi::list(Response& response) const {
  std::string out = "{\"notes\":[";
  {
    std::lock_guard lock(mutex_);
    bool first = true;
    for (const auto& [id, note] : notes_) {
      if (!first) out += ',';
      first = false;
      out += to_json(id, note);
    }
  }
  out += "]}\n";
  answer(response, 200, std::move(out));
}

void NotesApi::create(const Request& request, std::string_view body, Response& response) {
  if (!is_json(request)) return error(response, 415, "Content-Type must be application/json");
  Note note;
  if (auto problem = read_note(body, note.title, note.body)) return error(response, 400, *problem);
  std::uint64_t id = 0;
  std::string json;
  {
    std::lock_guard lock(mutex_);
    if (notes_.size() >= kMaxNotes) return error(response, 507, "the note store is full");
    id = next_id_++;
    json = to_json(id, note);
    notes_.emplace(id, std::move(note));
  }
  answer(response, 201, json + "\n");
  response.add_header("Location", std::string(kPrefix) + std::to_string(id));
}

void NotesApi::get(std::string_view id_text, Response& response) const {
  std::optional<std::uint64_t> id = parse_id(id_text);
  std::string json;
  if (id) {
    std::lock_guard lock(mutex_);
    if (auto it = notes_.find(*id); it != notes_.end()) json = to_json(it->first, it->second);
  }
  if (json.empty()) return error(response, 404, "no such note");
  answer(response, 200, json + "\n");
}

void NotesApi::replace(const Request& request, std::string_view id_text, std::string_view body,
                       Response& response) {
  std::optional<std::uint64_t> id = parse_id(id_text);
  if (!id) return error(response, 404, "no such note");
  if (!is_json(request)) return error(response, 415, "Content-Type must be application/json");
  Note note;
  if (auto problem = read_note(body, note.title, note.body)) return error(response, 400, *problem);
  std::string json;
  {
    std::lock_guard lock(mutex_);
    auto it = notes_.find(*id);
    if (it == notes_.end()) return error(response, 404, "no such note");
    it->second = std::move(note);
    json = to_json(it->first, it->second);
  }
  answer(response, 200, json + "\n");
}

void NotesApi::remove(std::string_view id_text, Response& response) {
  std::optional<std::uint64_t> id = parse_id(id_text);
  bool erased = false;
  if (id) {
    std::lock_guard lock(mutex_);
    erased = notes_.erase(*id) > 0;
  }
  if (!erased) return error(response, 404, "no such note");
  response.status = 204;
  response.add_header("Cache-Control", "no-store");
}

std::size_t NotesApi::size() const {
  std::lock_guard lock(mutex_);
  return notes_.size();
}

}  // namespace serverlab::http
