#include "serverlab/http/form.hpp"

#include <fmt/format.h>

#include "serverlab/http/static_files.hpp"
#include "serverlab/http/uri.hpp"

namespace serverlab::http {
namespace {

// html_escape, and control bytes (NUL, ESC, ...) replaced: they are not text.
std::string shown(std::string_view text) {
  std::string out = html_escape(text);
  std::string clean;
  clean.reserve(out.size());
  for (char c : out) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) clean += "\xEF\xBF\xBD";
    else clean += c;
  }
  return clean;
}

}  // namespace

std::string render_form_page(std::string_view query) {
  auto fields = parse_query(query);
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Form fields \xC2\xB7 serverlab</title>\n"
      "<link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body><main>\n"
      "<h1>Form fields</h1>\n";
  if (fields.empty()) {
    page += "<p>No fields were sent.</p>\n";
  } else {
    fmt::format_to(std::back_inserter(page), "<p>{} field{} received, in the order sent.</p>\n",
                   fields.size(), fields.size() == 1 ? "" : "s");
    page += "<table>\n<tr><th>Name</th><th>Value</th></tr>\n";
    for (const auto& [name, value] : fields) {
      fmt::format_to(std::back_inserter(page), "<tr><td>{}</td><td>{}</td></tr>\n", shown(name),
                     shown(value));
    }
    page += "</table>\n";
  }
  page += "<p><a href=\"/form.html\">Back to the form</a></p>\n</main></body></html>\n";
  return page;
}

}  // namespace serverlab::http
