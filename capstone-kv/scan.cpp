// scan.cpp: SCAN-family arguments and reply (scan.hpp).
#include "scan.hpp"

#include <charconv>

#include "serverlab/resp/parser.hpp"
#include "serverlab/resp/writer.hpp"

namespace serverlab::kv {

bool parse_scan_args(Context& ctx, std::size_t first, bool allow_type, ScanArgs& scan) {
  const std::string_view cursor = ctx.args[first];
  unsigned long long value = 0;
  auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), value);
  if (ec != std::errc() || end != cursor.data() + cursor.size()) {
    resp::write_error(ctx.out, "ERR invalid cursor");
    return false;
  }
  scan.cursor = static_cast<std::size_t>(value);
  for (std::size_t i = first + 1; i < ctx.args.size(); i += 2) {
    const std::string_view option = ctx.args[i];
    if (i + 1 >= ctx.args.size()) {
      reply_syntax_error(ctx.out);
      return false;
    }
    const std::string_view arg = ctx.args[i + 1];
    if (equals_nocase(option, "count")) {
      std::int64_t n = 0;
      if (!arg_int(ctx, arg, n)) return false;
      if (n < 1) {
        reply_syntax_error(ctx.out);
        return false;
      }
      scan.count = static_cast<std::size_t>(n);
    } else if (equals_nocase(option, "match")) {
      scan.match = arg == "*" ? std::string_view{} : arg;
    } else if (allow_type && equals_nocase(option, "type")) {
      scan.has_type = true;
      if (equals_nocase(arg, "string")) scan.type = Type::kString;
      else if (equals_nocase(arg, "list")) scan.type = Type::kList;
      else if (equals_nocase(arg, "hash")) scan.type = Type::kHash;
      else if (equals_nocase(arg, "set")) scan.type = Type::kSet;
      else scan.type_unknown = true;
    } else {
      reply_syntax_error(ctx.out);
      return false;
    }
  }
  return true;
}

void write_scan_reply(std::string& out, std::size_t cursor, const std::vector<std::string>& items) {
  resp::write_array_header(out, 2);
  resp::write_bulk(out, std::to_string(cursor));
  resp::write_array_header(out, items.size());
  for (const std::string& item : items) resp::write_bulk(out, item);
}

}  // namespace serverlab::kv
