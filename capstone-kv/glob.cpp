// glob.cpp: Redis glob patterns (glob.hpp).
#include "glob.hpp"

#include <cctype>
#include <cstddef>

namespace serverlab::kv {

namespace {

char fold(char c, bool nocase) {
  return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// [lab22:glob-class:begin]
// Matches byte `c` against the class that starts just after '[' at pattern[p].
// Sets p to the index just past the closing ']' (or to the end of the pattern).
bool match_class(std::string_view pattern, std::size_t& p, char c, bool nocase) {
  bool negate = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool matched = false;
  while (p < pattern.size() && pattern[p] != ']') {
    if (pattern[p] == '\\' && p + 1 < pattern.size()) {
      ++p;
      if (fold(pattern[p], nocase) == fold(c, nocase)) matched = true;
    } else if (p + 2 < pattern.size() && pattern[p + 1] == '-') {
      auto lo = static_cast<unsigned char>(fold(pattern[p], nocase));
      auto hi = static_cast<unsigned char>(fold(pattern[p + 2], nocase));
      if (lo > hi) std::swap(lo, hi);
      const auto x = static_cast<unsigned char>(fold(c, nocase));
      if (x >= lo && x <= hi) matched = true;
      p += 2;
    } else if (fold(pattern[p], nocase) == fold(c, nocase)) {
      matched = true;
    }
    ++p;
  }
  if (p < pattern.size()) ++p;  // the ']'
  return matched != negate;
}
// [lab22:glob-class:stub] // Write match_class here: labs/week22-capstone-kv/README.md.
// [lab22:glob-class:stub] bool match_class(std::string_view, std::size_t& p, char, bool) {
// [lab22:glob-class:stub]   ++p;
// [lab22:glob-class:stub]   return false;
// [lab22:glob-class:stub] }
// [lab22:glob-class:end]

}  // namespace

// [lab22:glob-match:begin]
bool glob_match(std::string_view pattern, std::string_view text, bool nocase) {
  std::size_t p = 0, t = 0;
  // Where to resume after a mismatch: just after the last '*', and the text
  // position that star has swallowed up to. npos: no star seen yet.
  std::size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;  // "**" is "*"
        if (p == pattern.size()) return true;
        star_p = p;
        star_t = t;
        continue;
      }
      if (pc == '?') {
        ++p, ++t;
        continue;
      }
      if (pc == '[') {
        std::size_t q = p + 1;
        if (match_class(pattern, q, text[t], nocase)) {
          p = q, ++t;
          continue;
        }
      } else {
        std::size_t q = p;
        if (pc == '\\' && q + 1 < pattern.size()) ++q;
        if (fold(pattern[q], nocase) == fold(text[t], nocase)) {
          p = q + 1, ++t;
          continue;
        }
      }
    }
    // Mismatch (or pattern used up): let the last star swallow one more byte.
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}
// [lab22:glob-match:stub] // Write glob_match here: labs/week22-capstone-kv/README.md.
// [lab22:glob-match:stub] bool glob_match(std::string_view pattern, std::string_view text, bool) {
// [lab22:glob-match:stub]   (void)match_class;
// [lab22:glob-match:stub]   (void)fold;
// [lab22:glob-match:stub]   return pattern == text;
// [lab22:glob-match:stub] }
// [lab22:glob-match:end]

}  // namespace serverlab::kv
