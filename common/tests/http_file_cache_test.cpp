// FileCache: hits cost no open, a changed file is noticed after the validity
// period, the size bound holds, and an entry in use outlives its eviction.
#include "serverlab/http/file_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "http_test_support.hpp"

namespace serverlab::http {
namespace {

using test::TempDir;
using namespace std::chrono_literals;

TEST(FileCache, SecondLookupIsAHitOnTheSameDescriptor) {
  TempDir root;
  root.write("a.txt", "alpha");
  FileCache cache(root.path(), {.max_entries = 8, .validity = 60});
  auto first = cache.lookup("a.txt");
  auto second = cache.lookup("a.txt");
  ASSERT_TRUE(first.file && second.file);
  EXPECT_EQ(first.file, second.file);
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(first.file->size, 5u);
  EXPECT_EQ(first.file->content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(first.file->inlined);
  EXPECT_EQ(first.file->bytes, "alpha");
}

TEST(FileCache, ChangedFileIsReopenedAfterTheValidityPeriod) {
  TempDir root;
  root.write("a.txt", "old");
  FileCache cache(root.path(), {.max_entries = 8, .validity = 0.05});
  auto before = cache.lookup("a.txt");
  root.write("a.txt", "new contents");
  // Within the validity the entry is trusted; after it, one stat notices the change.
  std::this_thread::sleep_for(100ms);
  auto after = cache.lookup("a.txt");
  ASSERT_TRUE(after.file);
  EXPECT_NE(after.file, before.file);
  EXPECT_EQ(after.file->size, 12u);
  EXPECT_EQ(after.file->bytes, "new contents");
  EXPECT_NE(after.file->etag, before.file->etag);
  EXPECT_EQ(cache.stats().reopened, 1u);
}

TEST(FileCache, UnchangedFileSurvivesRevalidation) {
  TempDir root;
  root.write("a.txt", "same");
  FileCache cache(root.path(), {.max_entries = 8, .validity = 0});
  auto first = cache.lookup("a.txt");
  auto second = cache.lookup("a.txt");
  EXPECT_EQ(first.file, second.file);
  EXPECT_EQ(cache.stats().revalidations, 1u);
  EXPECT_EQ(cache.stats().reopened, 0u);
}

TEST(FileCache, DeletedFileIsReportedAfterRevalidation) {
  TempDir root;
  root.write("a.txt", "here");
  FileCache cache(root.path(), {.max_entries = 8, .validity = 0});
  ASSERT_TRUE(cache.lookup("a.txt").file);
  std::filesystem::remove(root.path("a.txt"));
  auto gone = cache.lookup("a.txt");
  EXPECT_FALSE(gone.file);
  EXPECT_EQ(gone.error, ENOENT);
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(FileCache, StaysWithinItsBoundEvictingLeastRecentlyUsed) {
  TempDir root;
  for (const char* n : {"a", "b", "c"}) root.write(n, n);
  FileCache cache(root.path(), {.max_entries = 2, .validity = 60});
  cache.lookup("a");
  cache.lookup("b");
  cache.lookup("a");  // a is now the most recent
  cache.lookup("c");  // evicts b
  EXPECT_EQ(cache.stats().entries, 2u);
  auto misses = cache.stats().misses;
  cache.lookup("a");
  EXPECT_EQ(cache.stats().misses, misses) << "a should still be cached";
  cache.lookup("b");
  EXPECT_EQ(cache.stats().misses, misses + 1) << "b should have been evicted";
}

TEST(FileCache, EntryInUseKeepsItsDescriptorAfterEviction) {
  TempDir root;
  root.write("a", std::string(64 * 1024, 'a'));
  root.write("b", "b");
  FileCache cache(root.path(), {.max_entries = 1, .validity = 60});
  auto held = cache.lookup("a").file;
  cache.lookup("b");  // evicts a
  ASSERT_TRUE(held);
  EXPECT_FALSE(held->inlined);
  EXPECT_NE(::fcntl(held->fd.get(), F_GETFD), -1) << "descriptor closed under a user";
  char c = 0;
  EXPECT_EQ(::pread(held->fd.get(), &c, 1, 100), 1);
  EXPECT_EQ(c, 'a');
}

TEST(FileCache, ZeroEntriesMeansNoCaching) {
  TempDir root;
  root.write("a", "a");
  FileCache cache(root.path(), {.max_entries = 0, .validity = 60});
  cache.lookup("a");
  cache.lookup("a");
  EXPECT_EQ(cache.stats().misses, 2u);
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(FileCache, RefusesAFileReachedThroughASymlinkOutOfTheRoot) {
  TempDir root, outside;
  outside.write("secret", "s");
  root.symlink(outside.path("secret"), "link");
  root.symlink(outside.path(), "dirlink");
  FileCache cache(root.path());
  EXPECT_EQ(cache.lookup("link").error, EXDEV);
  EXPECT_EQ(cache.lookup("dirlink/secret").error, EXDEV);
}

TEST(FileCache, DirectoriesAreEntriesWithoutABody) {
  TempDir root;
  root.mkdir("d");
  FileCache cache(root.path());
  auto d = cache.lookup("d");
  ASSERT_TRUE(d.file);
  EXPECT_TRUE(d.file->directory);
  auto top = cache.lookup("");
  ASSERT_TRUE(top.file);
  EXPECT_TRUE(top.file->directory);
}

TEST(FileCache, FifosAreNeverOpenedForServing) {
  TempDir root;
  ASSERT_EQ(::mkfifo(root.path("pipe").c_str(), 0644), 0);
  FileCache cache(root.path());
  EXPECT_EQ(cache.lookup("pipe").error, EACCES);
}

TEST(FileCache, ConcurrentLookupsAgree) {
  TempDir root;
  for (int i = 0; i < 8; ++i) root.write("f" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'x'));
  FileCache cache(root.path(), {.max_entries = 4, .validity = 0.001});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        int k = (i + t) % 8;
        auto r = cache.lookup("f" + std::to_string(k));
        if (!r.file || r.file->size != static_cast<std::uint64_t>(k)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.stats().entries, 4u);
}

}  // namespace
}  // namespace serverlab::http
