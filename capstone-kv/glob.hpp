// glob.hpp: glob_match, Redis's glob-style pattern matching (KEYS, SCAN MATCH,
// PSUBSCRIBE, CONFIG GET).
//
//   *        any run of bytes, the empty one too
//   ?        exactly one byte
//   [abc]    one of a, b, c;  [^abc] any byte but those;  [a-z] a range (either order)
//   \x       the byte x itself (so \* matches a star)
//
// Bytes, not characters: a pattern and a key are arbitrary binary strings. An
// unclosed '[' runs to the end of the pattern, as in Redis (util.c stringmatchlen),
// so every pattern is valid and the function never fails.
//
// Cost: stars are handled by backtracking to the last star only (the classic
// two-pointer method), so a match is O(|pattern| * |text|) at worst, never
// exponential: a hostile KEYS pattern of many stars cannot stall the server.
//
// Who may call: anyone, any thread (a pure function).
#pragma once

#include <string_view>

namespace serverlab::kv {

bool glob_match(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace serverlab::kv
