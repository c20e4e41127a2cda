// rdb.cpp: writing and reading RDB snapshots (rdb.hpp).
#include "rdb.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace serverlab::kv {

namespace {

constexpr unsigned char kOpAux = 0xFA, kOpResizeDb = 0xFB, kOpExpireMs = 0xFC,
                        kOpExpireSec = 0xFD, kOpSelectDb = 0xFE, kOpEof = 0xFF;
constexpr unsigned char kTypeString = 0, kTypeList = 1, kTypeSet = 2, kTypeHash = 4;

// Builds the file in memory-sized chunks and writes them, keeping the CRC as it goes.
class RdbWriter {
 public:
  explicit RdbWriter(int fd) : fd_(fd) {}

  void byte(unsigned char b) { bytes(std::string_view(reinterpret_cast<const char*>(&b), 1)); }
  void bytes(std::string_view s) {
    crc_ = crc64(crc_, s);
    buffer_ += s;
    if (buffer_.size() >= 64 * 1024) flush();
  }
  // Length encoding: 6 bits, 14 bits, then 32 or 64 bits big-endian after a marker.
  void length(std::uint64_t n) {
    if (n < 64) return byte(static_cast<unsigned char>(n));
    if (n < 16384) {
      byte(static_cast<unsigned char>(0x40 | (n >> 8)));
      return byte(static_cast<unsigned char>(n & 0xFF));
    }
    const bool wide = n > 0xFFFFFFFFu;
    byte(wide ? 0x81 : 0x80);
    for (int shift = wide ? 56 : 24; shift >= 0; shift -= 8)
      byte(static_cast<unsigned char>((n >> shift) & 0xFF));
  }
  void string(std::string_view s) {
    length(s.size());
    bytes(s);
  }
  void little_endian64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>((v >> (8 * i)) & 0xFF));
  }
  std::uint64_t crc() const { return crc_; }
  // False on a write error (errno is kept).
  bool flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok_ = false;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
    return ok_;
  }
  bool ok() const { return ok_; }

 private:
  int fd_;
  std::string buffer_;
  std::uint64_t crc_ = 0;
  bool ok_ = true;
};

void write_value(RdbWriter& w, std::string_view key, const Value& value) {
  switch (value.type()) {
    case Type::kString:
      w.byte(kTypeString);
      w.string(key);
      return w.string(*value.string());
    case Type::kList:
      w.byte(kTypeList);
      w.string(key);
      w.length(value.list()->size());
      for (const std::string& e : *value.list()) w.string(e);
      return;
    case Type::kSet:
      w.byte(kTypeSet);
      w.string(key);
      w.length(value.set()->size());
      for (const std::string& m : *value.set()) w.string(m);
      return;
    case Type::kHash:
      w.byte(kTypeHash);
      w.string(key);
      w.length(value.hash()->size());
      for (const auto& [field, v] : *value.hash()) {
        w.string(field);
        w.string(v);
      }
      return;
  }
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Reads an RDB file held in memory. Each read_* returns false on a truncated or bad file.
class RdbReader {
 public:
  explicit RdbReader(std::string_view data) : data_(data) {}

  bool byte(unsigned char& b) {
    if (pos_ >= data_.size()) return false;
    b = static_cast<unsigned char>(data_[pos_++]);
    return true;
  }
  bool fixed(std::size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Length, or (encoded == true) the 0xC0-0xC3 "special encoding" number.
  bool length(std::uint64_t& n, bool& encoded) {
    unsigned char b = 0;
    if (!byte(b)) return false;
    encoded = false;
    switch (b >> 6) {
      case 0:
        n = b & 0x3F;
        return true;
      case 1: {
        unsigned char low = 0;
        if (!byte(low)) return false;
        n = (std::uint64_t{b & 0x3Fu} << 8) | low;
        return true;
      }
      case 2: {
        const std::size_t width = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
        std::string_view raw;
        if (width == 0 || !fixed(width, raw)) return false;
        n = 0;
        for (char c : raw) n = (n << 8) | static_cast<unsigned char>(c);
        return true;
      }
      default:
        encoded = true;
        n = b & 0x3F;
        return true;
    }
  }
  bool string(std::string& out) {
    std::uint64_t n = 0;
    bool encoded = false;
    if (!length(n, encoded)) return false;
    if (!encoded) {
      std::string_view raw;
      if (!fixed(static_cast<std::size_t>(n), raw)) return false;
      out.assign(raw);
      return true;
    }
    // Integers stored as 1, 2 or 4 little-endian bytes; 3 would be LZF (not read).
    const std::size_t width = n == 0 ? 1 : n == 1 ? 2 : n == 2 ? 4 : 0;
    std::string_view raw;
    if (width == 0 || !fixed(width, raw)) return false;
    std::uint32_t u = 0;
    for (std::size_t i = 0; i < width; ++i) u |= std::uint32_t{static_cast<unsigned char>(raw[i])} << (8 * i);
    std::int64_t v = width == 1 ? static_cast<std::int8_t>(u)
                     : width == 2 ? static_cast<std::int16_t>(u) : static_cast<std::int32_t>(u);
    out = std::to_string(v);
    return true;
  }
  bool little_endian64(std::uint64_t& v) {
    std::string_view raw;
    if (!fixed(8, raw)) return false;
    v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(raw[static_cast<std::size_t>(i)]);
    return true;
  }
  std::size_t position() const { return pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

bool read_count(RdbReader& r, std::uint64_t& n) {
  bool encoded = false;
  return r.length(n, encoded) && !encoded;
}

// Reads one value of `type` into a new Value.
bool read_value(RdbReader& r, unsigned char type, Value& out, std::string& error) {
  std::uint64_t n = 0;
  std::string a, b;
  switch (type) {
    case kTypeString:
      if (!r.string(a)) return false;
      out = Value(std::move(a));
      return true;
    case kTypeList: {
      out = Value::new_list();
      if (!read_count(r, n)) return false;
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!r.string(a)) return false;
        out.list()->push_back(std::move(a));
      }
      return true;
    }
    case kTypeSet: {
      out = Value::new_set();
      if (!read_count(r, n)) return false;
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!r.string(a)) return false;
        out.set()->insert(std::move(a));
      }
      return true;
    }
    case kTypeHash: {
      out = Value::new_hash();
      if (!read_count(r, n)) return false;
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!r.string(a) || !r.string(b)) return false;
        (*out.hash())[std::move(a)] = std::move(b);
      }
      return true;
    }
    default:
      error = "value type " + std::to_string(type) +
              " is not one kv-server reads (it reads the plain encodings it writes)";
      return false;
  }
}

}  // namespace

std::uint64_t crc64(std::uint64_t crc, std::string_view bytes) {
  constexpr std::uint64_t kPolyReflected = 0x95ac9329ac4bc9b5ull;  // Jones, bit-reversed
  for (char c : bytes) {
    crc ^= static_cast<unsigned char>(c);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ kPolyReflected : crc >> 1;
  }
  return crc;
}

bool save_rdb(const Database& db, const std::string& path, Database::Ms now, std::string& error) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = errno_text("open " + tmp);
    return false;
  }
  RdbWriter w(fd);
  w.bytes("REDIS0009");
  w.byte(kOpAux);
  w.string("redis-ver");
  w.string("7.0.15");
  w.byte(kOpAux);
  w.string("ctime");
  w.string(std::to_string(now / 1000));
  w.byte(kOpSelectDb);
  w.length(0);
  w.byte(kOpResizeDb);
  w.length(db.size());
  w.length(db.expires_count());
  db.for_each_entry([&](std::string_view key, const Value& value, Database::Ms expire_at) {
    if (expire_at != Database::kNoExpire) {
      if (expire_at <= now) return;  // already gone for every reader
      w.byte(kOpExpireMs);
      w.little_endian64(static_cast<std::uint64_t>(expire_at));
    }
    write_value(w, key, value);
  });
  w.byte(kOpEof);
  const std::uint64_t crc = w.crc();
  w.little_endian64(crc);
  bool ok = w.flush();
  if (!ok) error = errno_text("write " + tmp);
  if (ok && ::fsync(fd) != 0) {
    error = errno_text("fsync " + tmp);
    ok = false;
  }
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return false;
  }
  return rename_into_place(tmp, path, error);
}

bool rename_into_place(const std::string& tmp, const std::string& path, std::string& error) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = errno_text("rename " + tmp);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself must reach the disk: fsync the directory.
  const std::string::size_type slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool load_rdb(Database& db, const std::string& path, Database::Ms now, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return true;  // nothing saved yet
    error = errno_text("open " + path);
    return false;
  }
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  RdbReader r(data);
  auto fail = [&](const std::string& why) {
    error = path + ": " + why + " (at byte " + std::to_string(r.position()) + ")";
    return false;
  };
  std::string_view magic;
  if (!r.fixed(9, magic) || magic.substr(0, 5) != "REDIS") return fail("not an RDB file");
  Database::Ms expire_at = Database::kNoExpire;
  while (true) {
    unsigned char op = 0;
    if (!r.byte(op)) return fail("truncated");
    std::uint64_t n = 0, m = 0;
    std::string a, b;
    if (op == kOpEof) break;
    if (op == kOpAux) {
      if (!r.string(a) || !r.string(b)) return fail("truncated AUX field");
    } else if (op == kOpSelectDb) {
      if (!read_count(r, n)) return fail("bad SELECTDB");
      if (n != 0) return fail("database " + std::to_string(n) + ": kv-server has only database 0");
    } else if (op == kOpResizeDb) {
      if (!read_count(r, n) || !read_count(r, m)) return fail("bad RESIZEDB");
    } else if (op == kOpExpireMs) {
      std::uint64_t v = 0;
      if (!r.little_endian64(v)) return fail("truncated expiry");
      expire_at = static_cast<Database::Ms>(v);
    } else if (op == kOpExpireSec) {
      std::string_view raw;
      if (!r.fixed(4, raw)) return fail("truncated expiry");
      std::uint32_t s = 0;
      for (int i = 3; i >= 0; --i) s = (s << 8) | static_cast<unsigned char>(raw[static_cast<std::size_t>(i)]);
      expire_at = static_cast<Database::Ms>(s) * 1000;
    } else {
      std::string key;
      Value value{std::string()};
      std::string why;
      if (!r.string(key) || !read_value(r, op, value, why))
        return fail(why.empty() ? "truncated key or value" : why);
      if (expire_at == Database::kNoExpire || expire_at > now) {
        db.set(key, std::move(value), now);
        if (expire_at != Database::kNoExpire) db.set_expire(key, expire_at);
      }
      expire_at = Database::kNoExpire;
    }
  }
  const std::uint64_t computed = crc64(0, std::string_view(data).substr(0, r.position()));
  std::uint64_t stored = 0;
  if (!r.little_endian64(stored)) return fail("truncated checksum");
  if (stored != 0 && stored != computed) return fail("checksum mismatch");
  return true;
}

}  // namespace serverlab::kv
