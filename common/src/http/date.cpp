#include "serverlab/http/date.hpp"

#include <array>
#include <cstring>

namespace serverlab::http {
namespace {

constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

int month_index(std::string_view m) {
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    if (m == kMonths[i]) return static_cast<int>(i);
  return -1;
}

// Reads exactly `n` digits at text[pos]; -1 when they are not digits.
int digits(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos + n > text.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

std::optional<std::time_t> make_time(int year, int month, int day, int h, int m, int s) {
  if (month < 0 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60 || year < 1900)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return t;
}

// "08:49:37" at text[pos].
bool clock_at(std::string_view text, std::size_t pos, int& h, int& m, int& s) {
  if (pos + 8 > text.size() || text[pos + 2] != ':' || text[pos + 5] != ':') return false;
  h = digits(text, pos, 2);
  m = digits(text, pos + 3, 2);
  s = digits(text, pos + 6, 2);
  return h >= 0 && m >= 0 && s >= 0;
}

struct ThreadClock {
  std::time_t http_second = -1;
  std::array<char, kHttpDateLength> http{};
  std::time_t clf_second = -1;
  std::array<char, 32> clf{};
  std::size_t clf_length = 0;
};
thread_local ThreadClock t_clock;

}  // namespace

std::size_t format_http_date(std::time_t t, char* out) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::memcpy(out, kDays[static_cast<std::size_t>(tm.tm_wday)], 3);
  out[3] = ',';
  out[4] = ' ';
  put2(out + 5, tm.tm_mday);
  out[7] = ' ';
  std::memcpy(out + 8, kMonths[static_cast<std::size_t>(tm.tm_mon)], 3);
  out[11] = ' ';
  int year = tm.tm_year + 1900;
  put2(out + 12, (year / 100) % 100);
  put2(out + 14, year % 100);
  out[16] = ' ';
  put2(out + 17, tm.tm_hour);
  out[19] = ':';
  put2(out + 20, tm.tm_min);
  out[22] = ':';
  put2(out + 23, tm.tm_sec);
  std::memcpy(out + 25, " GMT", 4);
  return kHttpDateLength;
}

std::string http_date(std::time_t t) {
  std::string s(kHttpDateLength, '\0');
  format_http_date(t, s.data());
  return s;
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  int h = 0, m = 0, s = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.size() == 29 && text[3] == ',' && text.substr(25) == " GMT") {
    if (text[4] != ' ' || text[7] != ' ' || text[11] != ' ' || text[16] != ' ') return std::nullopt;
    if (!clock_at(text, 17, h, m, s)) return std::nullopt;
    return make_time(digits(text, 12, 4), month_index(text.substr(8, 3)), digits(text, 5, 2), h, m,
                     s);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  if (auto comma = text.find(", "); comma != std::string_view::npos && comma > 3 &&
                                    text.size() == comma + 24 && text.ends_with(" GMT")) {
    std::size_t p = comma + 2;
    if (text[p + 2] != '-' || text[p + 6] != '-' || text[p + 9] != ' ') return std::nullopt;
    if (!clock_at(text, p + 10, h, m, s)) return std::nullopt;
    int yy = digits(text, p + 7, 2);
    if (yy < 0) return std::nullopt;
    int year = yy < 70 ? 2000 + yy : 1900 + yy;
    return make_time(year, month_index(text.substr(p + 3, 3)), digits(text, p, 2), h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (text.size() == 24 && text[3] == ' ' && text[7] == ' ' && text[10] == ' ' &&
      text[19] == ' ') {
    int day = text[8] == ' ' ? digits(text, 9, 1) : digits(text, 8, 2);
    if (!clock_at(text, 11, h, m, s)) return std::nullopt;
    return make_time(digits(text, 20, 4), month_index(text.substr(4, 3)), day, h, m, s);
  }
  return std::nullopt;
}

std::string_view current_http_date() {
  std::time_t now = std::time(nullptr);
  if (now != t_clock.http_second) {
    format_http_date(now, t_clock.http.data());
    t_clock.http_second = now;
  }
  return {t_clock.http.data(), t_clock.http.size()};
}

std::string_view current_clf_date() {
  std::time_t now = std::time(nullptr);
  if (now != t_clock.clf_second) {
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    t_clock.clf_length = std::strftime(t_clock.clf.data(), t_clock.clf.size(),
                                       "%d/%b/%Y:%H:%M:%S +0000", &tm);
    t_clock.clf_second = now;
  }
  return {t_clock.clf.data(), t_clock.clf_length};
}

}  // namespace serverlab::http
