// resp/parser.hpp: parse_command, a pure function from bytes to one Redis command.
//
//   Command cmd;
//   ParseResult r = parse_command(input.view(), cmd, limits);
//   switch (r.kind) {
//     case ParseResult::Incomplete: read more; call again with ALL the bytes
//                                   (once the input has r.need bytes, if need > 0)
//     case ParseResult::Done:       cmd.args holds the command (maybe none: skip it);
//                                   drop r.consumed bytes from the input
//     case ParseResult::Error:      reply "-ERR Protocol error: " + r.error, then close
//   }
//
// The wire format is RESP2 (redis.io "Redis serialization protocol"). A client
// sends a command as an array of bulk strings:
//
//     *3\r\n $3\r\nSET\r\n $3\r\nkey\r\n $5\r\nvalue\r\n       (spaces added here)
//
// Anything that does not start with '*' is an "inline" command: one line of
// words separated by blanks, ended by LF (a CR before it is dropped), as typed in
// telnet. Words may be quoted like redis-cli's: "a b\n\x41" (escapes \n \r \t \b
// \a \\ \" \xHH) or 'it\'s'; a closing quote must be followed by a blank or the
// end of the line. An empty line, "*0" and "*-1" are Done with no arguments.
//
// No I/O and no state between calls: feeding a prefix of a valid command always
// yields Incomplete, and the parser never reads past bytes.size(). Arguments of an
// array are views into `bytes`; arguments of an inline command are copied into
// cmd.storage first (an escape makes them differ from the input), and are views
// into it. Either way they stay valid until the input or `cmd` changes.
//
// Cost: each call starts from the first byte. To keep a large value that arrives
// in many reads from costing O(n^2), Incomplete says in `need` how long the input
// must be before another call can get further (the end of the bulk string being
// read); calls before that are wasted. 0 means "any new byte may help".
//
// Limits (Redis's defaults; the errors are Redis's texts):
//   a bulk string longer than max_bulk, or a bad length -> "invalid bulk length"
//   more than max_elements arguments, or a bad count    -> "invalid multibulk length"
//   an inline line, or a length line, over max_inline   -> "too big inline request",
//                                                          "too big mbulk count string",
//                                                          "too big bulk count string"
//   an array element that is not a bulk string          -> "expected '$', got 'X'"
//   unbalanced quotes in an inline command              -> "unbalanced quotes in request"
// Stricter than Redis in one place: the two bytes after a bulk string must be
// CRLF ("expected CRLF after bulk string"); Redis skips them unread.
//
// Who may call: any thread, on bytes no other thread changes during the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace serverlab::resp {

struct Limits {
  std::uint64_t max_bulk = 512ull * 1024 * 1024;  // proto-max-bulk-len
  std::size_t max_elements = 1024 * 1024;         // arguments in one command
  std::size_t max_inline = 64 * 1024;             // PROTO_INLINE_MAX_SIZE
};

struct ParseResult {
  enum Kind { Incomplete, Done, Error };
  Kind kind = Incomplete;
  std::size_t consumed = 0;  // Done: bytes of the command, terminator included
  std::size_t need = 0;      // Incomplete: input length worth waiting for (0: unknown)
  std::string_view error;    // Error: a static text, e.g. "invalid bulk length"
};

// One parsed command. Reuse it across calls: its vectors keep their capacity.
struct Command {
  std::vector<std::string_view> args;
  std::string storage;  // backing bytes of inline arguments
};

// Written as one lab region per step in parser.cpp: [lab22:resp-array] (arrays
// of bulk strings) and [lab22:resp-inline] (inline commands).
ParseResult parse_command(std::string_view bytes, Command& command, const Limits& limits = {});

// Command names are case-insensitive: GET, get and gEt are one command. True when
// a and b are the same ASCII word in any case.
bool equals_nocase(std::string_view a, std::string_view b);

// Redis's string2ll: an optional '-' then digits, no '+', no leading zeros, no
// blanks, fits in int64. For lengths here and for integer arguments of commands.
bool parse_int64(std::string_view text, std::int64_t& value);

}  // namespace serverlab::resp
