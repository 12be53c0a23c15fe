// Decode: every format we take, orientation, colour, limits and bad input, on real photographs.
#include <sys/resource.h>

#include <random>
#include <thread>

#include "imaging/imaging.h"
#include "imaging/metadata_bytes.h"
#include "test_images.h"

namespace bgerase::imaging {
namespace {

using namespace testing;  // NOLINT

struct FormatCase {
  std::string name;
  std::string format;    // DecodedImage::format
  double max_mean_diff;  // lossy formats differ from the source a little
};

std::string Encoded(const VImage& im, const std::string& name) {
  if (name == "jpeg") return Save(im, ".jpg[Q=95]");
  if (name == "png") return Save(im, ".png");
  if (name == "webp") return Save(im, ".webp[Q=95]");
  if (name == "heif") return SaveHeif(im, VIPS_FOREIGN_HEIF_COMPRESSION_HEVC);
  if (name == "avif") return SaveHeif(im, VIPS_FOREIGN_HEIF_COMPRESSION_AV1);
  if (name == "tiff") return Save(im, ".tif[compression=deflate]");
  if (name == "gif") return Save(im, ".gif");
  if (name == "bmp") return SaveBmp(im);
  ADD_FAILURE() << name;
  return {};
}

class FormatTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FormatTest, DecodesWithSizeAndPixels) {
  const VImage photo = Photo();
  const DecodedImage d = MustDecode(Encoded(photo, GetParam().name));
  EXPECT_EQ(d.format, GetParam().format);
  EXPECT_EQ(d.width, 451);
  EXPECT_EQ(d.height, 300);
  EXPECT_EQ(d.rgb.width(), 451);
  EXPECT_EQ(d.rgb.bands(), 3);
  EXPECT_EQ(d.rgb.format(), VIPS_FORMAT_UCHAR);
  EXPECT_FALSE(d.alpha.has_value());
  EXPECT_LT(MeanDiff(d.rgb, photo), GetParam().max_mean_diff);
}

TEST_P(FormatTest, KeepsInputAlpha) {
  const VImage photo = Photo();
  // Left 100 columns transparent, the rest opaque.
  VImage alpha = (VImage::xyz(451, 300)[0] >= 100).cast(VIPS_FORMAT_UCHAR);
  const VImage rgba =
      photo.bandjoin(alpha).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  if (GetParam().name == "jpeg" || GetParam().name == "bmp") {
    // These files carry no alpha: decoding must not invent one.
    const DecodedImage d = MustDecode(Encoded(photo, GetParam().name));
    EXPECT_FALSE(d.alpha.has_value());
    EXPECT_EQ(d.rgb.bands(), 3);
    return;
  }
  const DecodedImage d = MustDecode(Encoded(rgba, GetParam().name));
  ASSERT_TRUE(d.alpha.has_value());
  EXPECT_EQ(d.rgb.bands(), 3);
  EXPECT_EQ(d.alpha->bands(), 1);
  EXPECT_EQ(d.alpha->width(), 451);
  EXPECT_EQ(d.alpha->height(), 300);
  EXPECT_LT(Pixel(*d.alpha, 20, 150)[0], 8);
  EXPECT_GT(Pixel(*d.alpha, 300, 150)[0], 247);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, FormatTest,
    ::testing::Values(FormatCase{"jpeg", "jpeg", 4}, FormatCase{"png", "png", 0.01},
                      FormatCase{"webp", "webp", 4}, FormatCase{"heif", "heif", 6},
                      FormatCase{"avif", "avif", 6}, FormatCase{"tiff", "tiff", 0.01},
                      FormatCase{"gif", "gif", 12}, FormatCase{"bmp", "bmp", 0.01}),
    [](const auto& info) { return info.param.name; });

TEST(DecodeTest, GifTakesTheFirstFrame) {
  const VImage a = Photo();
  const VImage b = a.invert();
  VImage frames = VImage::arrayjoin({a, b}, VImage::option()->set("across", 1));
  frames.set(VIPS_META_PAGE_HEIGHT, 300);
  const DecodedImage d = MustDecode(Save(frames, ".gif"));
  EXPECT_EQ(d.height, 300);
  EXPECT_LT(MeanDiff(d.rgb, a), 12);
  EXPECT_GT(MeanDiff(d.rgb, b), 50);
}

// Stored 451x300 with a red square in the stored top-left corner and EXIF orientation 6
// ("rotate 90 clockwise to display"): upright it is 300x451 with the square top-right.
class OrientationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OrientationTest, ComesOutUpright) {
  VImage stored = Photo().copy_memory();
  stored.draw_rect({255, 0, 0}, 0, 0, 40, 40, VImage::option()->set("fill", true));
  stored = WithBlob(stored, VIPS_META_EXIF_NAME, ExifBlob("Jane Doe", 6));
  stored.set(VIPS_META_ORIENTATION, 6);
  const std::string bytes = GetParam() == "jpeg"   ? Save(stored, ".jpg[Q=95]")
                            : GetParam() == "png"  ? Save(stored, ".png")
                            : GetParam() == "webp" ? Save(stored, ".webp[Q=95]")
                                                   : Save(stored, ".tif");
  ASSERT_EQ(Load(bytes).get_int(VIPS_META_ORIENTATION), 6) << "fixture lacks the orientation";
  const DecodedImage d = MustDecode(bytes);
  EXPECT_EQ(d.width, 300);
  EXPECT_EQ(d.height, 451);
  EXPECT_EQ(d.rgb.width(), 300);
  const std::vector<double> corner = Pixel(d.rgb, 300 - 20, 20);  // top-right
  EXPECT_GT(corner[0], 200);
  EXPECT_LT(corner[1], 60);
  EXPECT_FALSE(Pixel(d.rgb, 20, 20)[0] > 200 && Pixel(d.rgb, 20, 20)[1] < 60)
      << "top-left is still the marker: not rotated";
  if (GetParam() == "tiff") return;  // libvips writes no EXIF block into TIFF
  // The EXIF that travels on says the pixels are upright now.
  VImage probe = VImage::black(4, 4);
  probe = WithBlob(probe, VIPS_META_EXIF_NAME, d.metadata.exif);
  EXPECT_EQ(Load(Save(probe, ".jpg")).get_int(VIPS_META_ORIENTATION), 1);
  EXPECT_NE(
      std::string(Load(Save(probe, ".jpg")).get_string("exif-ifd0-Copyright")).find("Jane Doe"),
      std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Formats, OrientationTest,
                         ::testing::Values("jpeg", "png", "webp", "tiff"));

TEST(DecodeTest, GreyscaleBecomesThreeEqualBands) {
  const VImage grey = Photo().colourspace(VIPS_INTERPRETATION_B_W);
  for (const std::string& bytes : {Save(grey, ".jpg[Q=95]"), Save(grey, ".png")}) {
    const DecodedImage d = MustDecode(bytes);
    EXPECT_EQ(d.rgb.bands(), 3);
    const std::vector<double> p = Pixel(d.rgb, 200, 100);
    EXPECT_EQ(p[0], p[1]);
    EXPECT_EQ(p[1], p[2]);
    EXPECT_LT(MeanDiff(d.rgb[0], grey), 3);
  }
}

TEST(DecodeTest, SixteenBitScalesToEightBit) {
  const VImage photo = Photo();
  const VImage rgb16 = photo.colourspace(VIPS_INTERPRETATION_RGB16);
  ASSERT_EQ(rgb16.format(), VIPS_FORMAT_USHORT);
  const DecodedImage d = MustDecode(Save(rgb16, ".png"));
  EXPECT_LT(MeanDiff(d.rgb, photo), 1.0);
  const VImage grey16 = photo.colourspace(VIPS_INTERPRETATION_GREY16);
  const DecodedImage g = MustDecode(Save(grey16, ".tif"));
  EXPECT_EQ(g.format, "tiff");
  EXPECT_EQ(g.rgb.bands(), 3);
  EXPECT_LT(MeanDiff(g.rgb[1], photo.colourspace(VIPS_INTERPRETATION_B_W)), 1.0);
  // A 16-bit greyscale TIFF shipped with skimage (it only uses values 0..255 of 65535, so it is
  // nearly black once scaled: the scale is honoured, not guessed).
  const DecodedImage sk = MustDecode(ReadFile(kSkimage + "chessboard_GRAY_U16.tif"));
  EXPECT_EQ(sk.rgb.bands(), 3);
  EXPECT_LE(sk.rgb.max(), 1);
}

TEST(DecodeTest, PaletteImages) {
  const VImage photo = Photo();
  const DecodedImage d = MustDecode(Save(photo, ".png[palette]"));
  EXPECT_EQ(d.rgb.bands(), 3);
  EXPECT_LT(MeanDiff(d.rgb, photo), 12);
  const DecodedImage sk = MustDecode(ReadFile(kSkimage + "green_palette.png"));
  EXPECT_EQ(sk.rgb.bands(), 3);
}

TEST(DecodeTest, CmykJpegWithProfileConvertsToSrgb) {
  const VImage photo = Photo();
  const VImage cmyk = photo.icc_transform("cmyk");
  ASSERT_EQ(cmyk.bands(), 4);
  ASSERT_TRUE(cmyk.get_typeof(VIPS_META_ICC_NAME));
  const DecodedImage d = MustDecode(Save(cmyk, ".jpg[Q=95]"));
  EXPECT_EQ(d.rgb.bands(), 3);
  EXPECT_FALSE(d.alpha.has_value()) << "the K band is not alpha";
  EXPECT_LT(MeanDiff(d.rgb, photo), 8);
  EXPECT_EQ(internal::IccProfileSpace(d.metadata.icc), internal::IccSpace::kCmyk);
}

TEST(DecodeTest, WideGamutProfileConvertsToSrgb) {
  const VImage photo = Photo();
  const VImage p3 = photo.icc_transform("p3");  // pixels in Display P3, profile attached
  ASSERT_GT(MeanDiff(p3, photo), 2) << "P3 pixels should differ from sRGB ones";
  const DecodedImage d = MustDecode(Save(p3, ".png"));
  EXPECT_LT(MeanDiff(d.rgb, photo), 2);
  EXPECT_EQ(d.metadata.icc, Profile("p3"));
}

TEST(DecodeTest, PayloadTooLarge) {
  const std::string png = Save(Photo(), ".png");
  DecodeLimits limits;
  limits.max_bytes = png.size() - 1;
  EXPECT_EQ(Decode(png, limits).status().code(), "payload_too_large");
  EXPECT_EQ(Decode(std::string(30'000'001, '\0')).status().code(), "payload_too_large");
  limits.max_bytes = png.size();
  EXPECT_TRUE(Decode(png, limits).ok());
}

uint32_t Crc32(const unsigned char* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

void PutBe32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

long PeakRssKb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(DecodeTest, DecompressionBombIsRefusedFromTheHeader) {
  // A real small PNG whose IHDR now declares 50000x50000 (with a valid CRC).
  std::string png = Save(Photo(), ".png");
  ASSERT_EQ(png.substr(12, 4), "IHDR");
  PutBe32(&png, 16, 50000);
  PutBe32(&png, 20, 50000);
  PutBe32(&png, 29, Crc32(reinterpret_cast<const unsigned char*>(png.data()) + 12, 17));
  const long before = PeakRssKb();
  const Result<DecodedImage> r = Decode(png);
  EXPECT_EQ(r.status().code(), "image_too_large");
  EXPECT_NE(r.status().message().find("50000x50000"), std::string::npos) << r.status().message();
  EXPECT_LT(PeakRssKb() - before, 64 * 1024) << "pixels were allocated";  // 7.5 GB if decoded

  // The same for a real image over a lowered cap, and for BMP, whose header we read ourselves.
  DecodeLimits limits;
  limits.max_pixels = 451 * 300 - 1;
  EXPECT_EQ(Decode(Save(Photo(), ".jpg"), limits).status().code(), "image_too_large");
  EXPECT_EQ(Decode(SaveBmp(Photo()), limits).status().code(), "image_too_large");
  limits.max_pixels = 451 * 300;
  EXPECT_TRUE(Decode(Save(Photo(), ".jpg"), limits).ok());
}

TEST(DecodeTest, HeifHasItsOwnLowerCap) {
  const std::string heic = SaveHeif(Photo(), VIPS_FOREIGN_HEIF_COMPRESSION_HEVC);
  const std::string avif = SaveHeif(Photo(), VIPS_FOREIGN_HEIF_COMPRESSION_AV1);
  DecodeLimits limits;
  limits.max_pixels_heif = 451 * 300 - 1;
  EXPECT_EQ(Decode(heic, limits).status().code(), "image_too_large");
  EXPECT_EQ(Decode(avif, limits).status().code(), "image_too_large");
  EXPECT_TRUE(Decode(Save(Photo(), ".png"), limits).ok()) << "other formats use max_pixels";
  EXPECT_LT(kDefaultMaxPixelsHeif, DecodeLimits{}.max_pixels);
}

TEST(DecodeTest, TruncatedFilesAreCorrupt) {
  const VImage photo = Photo();
  for (const std::string& bytes :
       {Save(photo, ".jpg[Q=95]"), Save(photo, ".png"), Save(photo, ".webp[Q=95]"),
        SaveHeif(photo, VIPS_FOREIGN_HEIF_COMPRESSION_HEVC), Save(photo, ".tif"),
        Save(photo, ".gif")}) {
    const std::string cut = bytes.substr(0, bytes.size() * 6 / 10);
    const Result<DecodedImage> r = Decode(cut);
    EXPECT_EQ(r.status().code(), "corrupt_image")
        << Load(bytes).get_string("vips-loader") << ": " << r.status().ToString();
    EXPECT_FALSE(r.status().message().empty());
  }
}

TEST(DecodeTest, NonImagesAreUnsupported) {
  std::mt19937 rng(7);
  std::string noise(100'000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  const std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>";
  for (const std::string& bytes :
       {noise, std::string("Hello, this is a plain text file, not a photo.\n"), std::string(), svg,
        ReadFile(kSkimage + "multi.fits"), std::string("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")}) {
    const Result<DecodedImage> r = Decode(bytes);
    EXPECT_EQ(r.status().code(), "unsupported_image") << bytes.substr(0, 20);
    EXPECT_NE(r.status().message().find("JPEG, PNG"), std::string::npos);
  }
}

TEST(DecodeTest, CallerMayFreeBytesRightAfterDecode) {
  auto bytes = std::make_unique<std::string>(Save(Photo(), ".png"));
  const DecodedImage d = MustDecode(*bytes);
  std::fill(bytes->begin(), bytes->end(), '\0');
  bytes.reset();
  EXPECT_LT(MeanDiff(d.rgb, Photo()), 0.01);
}

TEST(DecodeTest, ConcurrentDecodes) {
  const VImage photo = Photo();
  const std::vector<std::string> inputs = {Save(photo, ".jpg[Q=95]"), Save(photo, ".png"),
                                           Save(photo, ".webp[Q=95]"),
                                           SaveHeif(photo, VIPS_FOREIGN_HEIF_COMPRESSION_AV1)};
  std::vector<std::thread> threads;
  std::vector<int> ok(inputs.size() * 3, 0);
  for (size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        Result<DecodedImage> r = Decode(inputs[t % inputs.size()]);
        if (!r.ok() || r->width != 451 || MeanDiff(r->rgb, photo) > 6) return;
        std::string mime;
        EncodeSpec spec;
        spec.format = t % 2 ? Format::kPng : Format::kWebp;
        Result<std::string> e = Encode(r->rgb, r->metadata, spec, &mime);
        if (!e.ok() || Load(*e).width() != 451) return;
      }
      ok[t] = 1;
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < ok.size(); ++t) EXPECT_EQ(ok[t], 1) << "thread " << t;
}

}  // namespace
}  // namespace bgerase::imaging
