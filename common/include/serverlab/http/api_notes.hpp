// http/api_notes.hpp: NotesApi, a toy REST resource under /api/notes, so the
// servers answer dynamic content and not only files (--api on).
//
//   GET    /api/notes        200 {"notes":[{"id":1,"title":"...","body":"..."}, ...]}  (by id)
//   POST   /api/notes        201 the new note, Location: /api/notes/ID
//   GET    /api/notes/ID     200 the note                       | 404
//   PUT    /api/notes/ID     200 the note, replaced             | 404 (PUT does not create)
//   DELETE /api/notes/ID     204                                | 404
//   other methods            405 with Allow (the router)
//
// A note sent by POST or PUT is a JSON object with a string "title" (1 to
// kMaxTitle bytes) and an optional string "body" (up to kMaxBody bytes); other
// members are ignored. Errors answer {"error":"..."} with:
//   400 the body is not JSON, not an object, or a field is missing, too long or not a string
//   415 Content-Type is not application/json (parameters such as charset are allowed)
//   411 a chunked body (the session refuses it; routes take Content-Length bodies)
//   413 a body over --max-body (the session's body decoder)
//   507 the store already holds kMaxNotes notes
//
// Storage: in memory, in the process. Stage 3's threads share one store (a
// mutex guards it; every operation holds it for one map lookup or one
// serialization). Stage 5's workers each have their own store, so a note made
// through one worker is not seen through another: a client that wants to see
// its notes again keeps its connection (a connection stays with its worker).
// Restarting the server forgets every note; a reload keeps them in stages 2-4
// (the store lives in the MiddlewareState). JSON goes through nlohmann_json.
//
// Who may call: main() registers the routes (install) before serving starts;
// the handlers then run on any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "serverlab/http/service.hpp"

namespace serverlab::http {

class NotesApi {
 public:
  static constexpr std::size_t kMaxNotes = 10000;
  static constexpr std::size_t kMaxTitle = 200;
  static constexpr std::size_t kMaxBody = 64 * 1024;

  // Adds the /api/notes routes to `service`. `this` must outlive the service's use.
  void install(HttpService& service);

  // The handlers (public for unit tests).
  void list(Response& response) const;
  void create(const Request& request, std::string_view body, Response& response);
  void get(std::string_view id, Response& response) const;
  void replace(const Request& request, std::string_view id, std::string_view body,
               Response& response);
  void remove(std::string_view id, Response& response);

  std::size_t size() const;

 private:
  struct Note {
    std::string title;
    std::string body;
  };
  static std::string to_json(std::uint64_t id, const Note& note);

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Note> notes_;  // guarded by mutex_
  std::uint64_t next_id_ = 1;            // guarded by mutex_
};

}  // namespace serverlab::http
