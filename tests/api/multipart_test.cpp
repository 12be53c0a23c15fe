// The multipart/form-data parser against the shapes real clients send (RFC 2046 / 7578 / 5987)
// and the malformed and abusive ones it must refuse, each with its message.
#include <gtest/gtest.h>

#include <chrono>

#include "api/multipart.h"

namespace bgerase::api {
namespace {

std::string Part(const std::string& boundary, const std::string& headers,
                 const std::string& content) {
  return "--" + boundary + "\r\n" + headers + "\r\n" + content + "\r\n";
}

const std::string kDisposition = "Content-Disposition: form-data; name=";

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; BOUNDARY=\"a b:c\""), "a b:c");
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; charset=utf-8; boundary=x-1"), "x-1");
  EXPECT_EQ(*MultipartBoundary("multipart/form-data;boundary=q;charset=utf-8"), "q");
  const std::string b70(70, '-');
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=" + b70), b70);
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=" + b70 + "-"), "");
  EXPECT_EQ(*MultipartBoundary("multipart/form-data"), "");
  EXPECT_FALSE(MultipartBoundary("application/json"));
  EXPECT_FALSE(MultipartBoundary("multipart/mixed; boundary=a"));
  EXPECT_FALSE(MultipartBoundary(""));
}

TEST(Multipart, RealWorldShapes) {
  const std::string b = "----4a1b";
  const std::string body = Part(b, kDisposition + "\"size\"\r\n", "preview") +
                           Part(b,
                                kDisposition + "\"image_file\"; filename=\"x.png\"\r\n" +
                                    "Content-Type: image/png\r\n",
                                std::string("\x89PNG\r\n\x1a\n\0\r\n-", 13)) +
                           "--" + b + "--";
  // No CRLF after the close delimiter, then with one, then with an epilogue and a preamble.
  for (const std::string& whole :
       {body, body + "\r\n", "a preamble\r\n" + body + "\r\nan epilogue\r\n"}) {
    auto parts = ParseMultipart(whole, b);
    ASSERT_TRUE(parts.ok()) << parts.status().ToString();
    ASSERT_EQ(parts->size(), 2u);
    EXPECT_EQ((*parts)[0].name, "size");
    EXPECT_EQ((*parts)[0].content, "preview");
    EXPECT_EQ((*parts)[0].content_type, "");
    EXPECT_EQ((*parts)[1].name, "image_file");
    EXPECT_EQ((*parts)[1].filename, "x.png");
    EXPECT_EQ((*parts)[1].content_type, "image/png");
    EXPECT_EQ((*parts)[1].content, std::string_view("\x89PNG\r\n\x1a\n\0\r\n-", 13));
  }
  // Empty content, escaped quotes, header names in any case, RFC 5987 file names.
  auto parts = ParseMultipart(Part(b, "content-disposition: FORM-DATA; name=\"a\\\"b\"\r\n", "") +
                                  Part(b,
                                       kDisposition +
                                           "\"f\"; filename=\"plain.png\"; "
                                           "filename*=UTF-8''na%C3%AFve%20photo.png\r\n",
                                       "x") +
                                  Part(b, kDisposition + "\"g\"; filename*=iso-8859-1'en'caf%E9\r\n",
                                       "y") +
                                  "--" + b + "--",
                              b);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].name, "a\"b");
  EXPECT_EQ((*parts)[0].content, "");
  EXPECT_EQ((*parts)[1].filename, "na\xC3\xAFve photo.png");
  EXPECT_EQ((*parts)[2].filename, "caf\xC3\xA9");
  // A body without any part is an empty form, not an error.
  EXPECT_TRUE(ParseMultipart("--" + b + "--", b)->empty());
}

TEST(Multipart, MalformedAndAbusiveBodiesAreRefusedWithTheirReason) {
  const std::string b = "xyz";
  auto refused = [&](const std::string& body, const std::string& boundary = "xyz") {
    auto parts = ParseMultipart(body, boundary);
    EXPECT_FALSE(parts.ok());
    if (parts.ok()) return std::string();
    EXPECT_EQ(parts.status().code(), "bad_request");
    return parts.status().message();
  };
  const std::string good = Part(b, kDisposition + "\"a\"\r\n", "1");
  EXPECT_NE(refused(good).find("no end"), std::string::npos);
  EXPECT_NE(refused(good + "--xyz").find("close delimiter"), std::string::npos);
  EXPECT_NE(refused("--xyz\r\n" + kDisposition + "\"a\"\r\n\r\nno end").find("no end"),
            std::string::npos);
  EXPECT_NE(refused("nothing here").find("no boundary"), std::string::npos);
  EXPECT_NE(refused(good + "--xyz--", "").find("1 to 70"), std::string::npos);
  EXPECT_NE(refused(good + "--xyz--", std::string(71, '-')).find("1 to 70"), std::string::npos);
  EXPECT_NE(refused(Part(b, "Content-Type: text/plain\r\n", "1") + "--xyz--").find("no form-data"),
            std::string::npos);
  EXPECT_NE(refused(Part(b, "Content-Disposition: attachment; name=\"a\"\r\n", "1") + "--xyz--")
                .find("not form-data"),
            std::string::npos);
  EXPECT_NE(refused(Part(b, kDisposition + "\"a\"\r\nContent-Type: multipart/mixed; boundary=q\r\n",
                         "--q\r\n\r\nx\r\n--q--") +
                    "--xyz--")
                .find("nested"),
            std::string::npos);
  EXPECT_NE(refused("--xyz\r\n" + std::string(9000, 'h') + "\r\n\r\nx\r\n--xyz--").find("8192"),
            std::string::npos);
  EXPECT_NE(refused("--xyzjunk\r\n").find("other text"), std::string::npos);
  std::string many;
  for (size_t i = 0; i <= kMaxFormParts; ++i) many += good;
  EXPECT_NE(refused(many + "--xyz--").find("more than 100 parts"), std::string::npos);
  std::string enough;
  for (size_t i = 0; i < kMaxFormParts; ++i) enough += good;
  EXPECT_EQ(ParseMultipart(enough + "--xyz--", b)->size(), kMaxFormParts);
}

// Linear time: a 30 MB part made of near-delimiters parses about as fast as 30 MB of anything
// else (a quadratic search would take minutes). Compared with itself, never with a clock limit.
TEST(Multipart, ParsingIsLinearInTheBodyAtAdversarialContent) {
  const std::string b(70, '7');
  std::string nasty;
  while (nasty.size() < (30u << 20)) nasty += "\r\n--" + std::string(69, '7') + "x";
  const std::string plain(nasty.size(), 'a');
  auto time_of = [&](const std::string& content) {
    const std::string body = Part(b, kDisposition + "\"image_file\"\r\n", content) + "--" + b + "--";
    const auto t0 = std::chrono::steady_clock::now();
    auto parts = ParseMultipart(body, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(parts.ok());
    if (parts.ok()) {
      EXPECT_EQ((*parts)[0].content.size(), content.size());
    }
    return s;
  };
  const double t_plain = time_of(plain), t_nasty = time_of(nasty);
  RecordProperty("plain_s", std::to_string(t_plain));
  RecordProperty("nasty_s", std::to_string(t_nasty));
  EXPECT_LT(t_nasty, 50 * t_plain + 0.5) << "plain " << t_plain << " s, adversarial " << t_nasty;
}

}  // namespace
}  // namespace bgerase::api
