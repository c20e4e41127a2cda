// resp/writer.hpp: appends RESP2 replies to an output string.
//
//   std::string out;
//   resp::write_array_header(out, 2);   // *2\r\n
//   resp::write_bulk(out, "a");         // $1\r\na\r\n
//   resp::write_null(out);              // $-1\r\n
//   resp::write_error(out, "ERR syntax error");
//
// The five RESP2 types: simple string (+OK), error (-ERR ...), integer (:42),
// bulk string ($3\r\nabc), array (*2\r\n ...); a null is $-1 (bulk) or *-1 (array).
// Simple strings and errors must not contain CR or LF: write_simple/write_error
// replace them with blanks (Redis does the same for errors), so a reply can never
// be split in two by text that came from a client.
//
// Who may call: any thread, on a string it owns. Appends only; never throws except
// std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace serverlab::resp {

void write_simple(std::string& out, std::string_view text);   // +text\r\n
void write_error(std::string& out, std::string_view text);    // -text\r\n ("ERR ..." included)
void write_integer(std::string& out, std::int64_t value);     // :value\r\n
void write_bulk(std::string& out, std::string_view bytes);    // $len\r\nbytes\r\n
void write_null(std::string& out);                            // $-1\r\n
void write_null_array(std::string& out);                      // *-1\r\n
void write_array_header(std::string& out, std::size_t count); // *count\r\n
// A double as Redis prints it in bulk replies (INCRBYFLOAT, HINCRBYFLOAT): up to 17
// decimals, no exponent, no trailing zeros: "3.5", "10", and 1e30 in all its digits.
std::string format_double(long double value);

inline void write_ok(std::string& out) { out += "+OK\r\n"; }

}  // namespace serverlab::resp
