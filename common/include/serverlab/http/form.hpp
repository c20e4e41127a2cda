// http/form.hpp: the HTML form processor behind GET /-/form, the route that
// shows what a browser submitted with an HTML <form method="get">.
//
//   GET /-/form?name=Ada+L.&topic=io&topic=http&note=%3Cscript%3E
//   -> a page with a table: name | Ada L.   topic | io   topic | http
//                           note | &lt;script&gt;
//
// Fields are decoded by parse_query (uri.hpp): '+' is a space, %XX is a byte,
// repeated names stay separate rows in the order sent. Every name and value is
// HTML-escaped, and control bytes other than tab and newline are shown as U+FFFD,
// so no submitted text can become markup on the page. The bundled site's
// www/form.html is a form that submits here.
//
// Who may call: any thread (pure: no I/O). The page is built in memory; its size
// is bounded by the request line (--max-request-line), a few times over.
#pragma once

#include <string>
#include <string_view>

namespace serverlab::http {

// The whole HTML page (UTF-8) answering a form submission with `query`
// (the request's query string, after '?', still encoded). An empty query gives a
// page that says no fields were sent and links to /form.html.
std::string render_form_page(std::string_view query);

}  // namespace serverlab::http
