// Tests of mime_type: extension lookup, case, charset on text, the default.
#include "serverlab/http/mime.hpp"

#include <gtest/gtest.h>

namespace serverlab::http {
namespace {

TEST(MimeType, NamesUtf8OnTextTypes) {
  EXPECT_EQ(mime_type("/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("/old.htm"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("/s.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type("/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("/mod.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("/data.json"), "application/json; charset=utf-8");
  EXPECT_EQ(mime_type("/notes.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(mime_type("/feed.xml"), "application/xml; charset=utf-8");
  EXPECT_EQ(mime_type("/logo.svg"), "image/svg+xml; charset=utf-8");
  EXPECT_EQ(mime_type("/README.md"), "text/markdown; charset=utf-8");
  EXPECT_EQ(mime_type("/t.csv"), "text/csv; charset=utf-8");
}

TEST(MimeType, BinaryTypesHaveNoCharset) {
  EXPECT_EQ(mime_type("/a.png"), "image/png");
  EXPECT_EQ(mime_type("/a.jpg"), "image/jpeg");
  EXPECT_EQ(mime_type("/a.jpeg"), "image/jpeg");
  EXPECT_EQ(mime_type("/a.gif"), "image/gif");
  EXPECT_EQ(mime_type("/a.webp"), "image/webp");
  EXPECT_EQ(mime_type("/favicon.ico"), "image/vnd.microsoft.icon");
  EXPECT_EQ(mime_type("/a.pdf"), "application/pdf");
  EXPECT_EQ(mime_type("/a.wasm"), "application/wasm");
  EXPECT_EQ(mime_type("/f.woff"), "font/woff");
  EXPECT_EQ(mime_type("/f.woff2"), "font/woff2");
  EXPECT_EQ(mime_type("/f.ttf"), "font/ttf");
  EXPECT_EQ(mime_type("/v.mp4"), "video/mp4");
  EXPECT_EQ(mime_type("/v.webm"), "video/webm");
  EXPECT_EQ(mime_type("/s.mp3"), "audio/mpeg");
  EXPECT_EQ(mime_type("/s.ogg"), "audio/ogg");
  EXPECT_EQ(mime_type("/a.zip"), "application/zip");
  EXPECT_EQ(mime_type("/a.tar.gz"), "application/gzip");
  EXPECT_EQ(mime_type("/a.tar"), "application/x-tar");
  for (std::string_view type : {mime_type("/a.png"), mime_type("/a.pdf"), mime_type("/a.mp4")}) {
    EXPECT_EQ(type.find("charset"), std::string_view::npos) << type;
  }
}

TEST(MimeType, ExtensionIsCaseInsensitive) {
  EXPECT_EQ(mime_type("/INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("/Photo.JpG"), "image/jpeg");
}

TEST(MimeType, UnknownOrMissingExtensionIsOctetStream) {
  EXPECT_EQ(mime_type("/file.unknownext"), kDefaultMimeType);
  EXPECT_EQ(mime_type("/Makefile"), "application/octet-stream");
  EXPECT_EQ(mime_type("/trailing."), kDefaultMimeType);
  EXPECT_EQ(mime_type(""), kDefaultMimeType);
  EXPECT_EQ(mime_type("/dir/"), kDefaultMimeType);
}

TEST(MimeType, OnlyTheLastSegmentsExtensionCounts) {
  EXPECT_EQ(mime_type("/site.html/readme"), kDefaultMimeType);
  EXPECT_EQ(mime_type("/v1.2/page.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type("/docs/.htaccess"), kDefaultMimeType);  // a dotfile, not ".htaccess"
  EXPECT_EQ(mime_type("relative.txt"), "text/plain; charset=utf-8");
}

}  // namespace
}  // namespace serverlab::http
