// The byte-level metadata edits, on blobs libvips itself produced.
#include "imaging/metadata_bytes.h"

#include "test_images.h"

namespace bgerase::imaging::internal {
namespace {

using namespace bgerase::imaging::testing;  // NOLINT

TEST(MetadataBytesTest, ExifOrientationResetInBothByteOrders) {
  std::string exif = ExifBlob("(c) Jane Doe", 8);
  ASSERT_TRUE(ResetExifOrientation(&exif));
  VImage probe = WithBlob(VImage::black(4, 4), VIPS_META_EXIF_NAME, exif);
  const VImage back = Load(Save(probe, ".jpg"));
  EXPECT_EQ(back.get_int(VIPS_META_ORIENTATION), 1);
  EXPECT_NE(std::string(back.get_string("exif-ifd0-Copyright")).find("Jane Doe"),
            std::string::npos);

  // Big-endian ("MM") TIFF structure with Orientation = 3, hand-built.
  std::string mm("Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x03\0\0\0\0\0\0", 32);
  ASSERT_TRUE(ResetExifOrientation(&mm));
  EXPECT_EQ(mm[6 + 8 + 2 + 8], 0);
  EXPECT_EQ(mm[6 + 8 + 2 + 9], 1);

  std::string junk = "Exif\0\0not tiff";
  EXPECT_FALSE(ResetExifOrientation(&junk));
  std::string cut = exif.substr(0, 20);
  EXPECT_FALSE(ResetExifOrientation(&cut));
}

TEST(MetadataBytesTest, XmpOrientation) {
  std::string attr = "<x tiff:Orientation=\"6\"/>";
  EXPECT_TRUE(ResetXmpOrientation(&attr));
  EXPECT_EQ(attr, "<x tiff:Orientation=\"1\"/>");
  std::string elem = "<tiff:Orientation>8</tiff:Orientation>";
  EXPECT_TRUE(ResetXmpOrientation(&elem));
  EXPECT_EQ(elem, "<tiff:Orientation>1</tiff:Orientation>");
  std::string none = "<dc:creator>Jane</dc:creator>";
  EXPECT_FALSE(ResetXmpOrientation(&none));
}

TEST(MetadataBytesTest, IccProfiles) {
  ASSERT_TRUE(InitVips().ok());
  EXPECT_EQ(IccProfileSpace(Profile("srgb")), IccSpace::kRgb);
  EXPECT_EQ(IccProfileSpace(Profile("p3")), IccSpace::kRgb);
  EXPECT_EQ(IccProfileSpace(Profile("cmyk")), IccSpace::kCmyk);
  EXPECT_TRUE(IccProfileIsSrgb(Profile("srgb")));
  EXPECT_FALSE(IccProfileIsSrgb(Profile("p3")));
  EXPECT_FALSE(IccProfileIsSrgb(Profile("cmyk")));
  EXPECT_EQ(IccProfileSpace("short"), IccSpace::kOther);
  EXPECT_FALSE(IccProfileIsSrgb(std::string(200, '\xff')));
}

TEST(MetadataBytesTest, WebpStripKeepsAValidFile) {
  ASSERT_TRUE(InitVips().ok());
  VImage im = WithBlob(Photo(), VIPS_META_EXIF_NAME, ExifBlob("(c) Jane Doe", 1));
  im = WithBlob(im, VIPS_META_ICC_NAME, Profile("p3"));
  std::string webp = Save(im, ".webp");
  ASSERT_NE(webp.find("EXIF"), std::string::npos);
  ASSERT_TRUE(StripWebpMetadata(&webp));
  EXPECT_EQ(webp.find("EXIF"), std::string::npos);
  EXPECT_EQ(webp.find("ICCP"), std::string::npos);
  const VImage back = Load(webp);
  EXPECT_EQ(back.width(), 451);
  EXPECT_FALSE(back.get_typeof(VIPS_META_ICC_NAME));
  std::string junk = "RIFF\x10\0\0\0WEBPVP8X\xff\xff\xff\xff";
  EXPECT_FALSE(StripWebpMetadata(&junk));
}

TEST(MetadataBytesTest, Sniff) {
  EXPECT_EQ(SniffFormat("\xff\xd8\xff\xe0"), "jpeg");
  EXPECT_EQ(SniffFormat(std::string_view("\0\0\0\x1c"
                                         "ftypavif",
                                         12)),
            "avif");
  EXPECT_EQ(SniffFormat(std::string_view("\0\0\0\x18"
                                         "ftypheic",
                                         12)),
            "heif");
  EXPECT_EQ(SniffFormat("hello"), "");
  EXPECT_EQ(SniffFormat(""), "");
}

}  // namespace
}  // namespace bgerase::imaging::internal
