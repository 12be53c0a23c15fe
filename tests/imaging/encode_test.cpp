// Encode: formats, JPEG flattening, and the metadata promise (promise 1 in docs/design/privacy.md): copyright,
// creator and colour profile survive by default and are all gone with strip.
#include "imaging/imaging.h"
#include "test_images.h"

namespace bgerase::imaging {
namespace {

using namespace testing;  // NOLINT

const char kXmp[] =
    "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>"
    "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
    "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
    "<rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/' "
    "xmlns:tiff='http://ns.adobe.com/tiff/1.0/' tiff:Orientation='6'>"
    "<dc:creator><rdf:Seq><rdf:li>Jane Doe Studio</rdf:li></rdf:Seq></dc:creator>"
    "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>";

// A Photoshop APP13 block holding one IPTC record: 2:116 Copyright Notice.
std::string IptcBlob() {
  const std::string notice = "(c) Jane Doe 2024";
  std::string iptc = std::string("\x1c\x02\x74", 3) + char(0) + char(notice.size()) + notice;
  std::string s = std::string("Photoshop 3.0\0", 14) + "8BIM" + std::string("\x04\x04\0\0", 4);
  s += char(0) + std::string("\0\0", 2) + char(iptc.size()) + iptc;
  if (iptc.size() % 2) s += '\0';
  return s;
}

// A photo as a camera or editor would hand it to us: Display P3 pixels with the P3 profile,
// EXIF copyright with orientation 6, XMP creator, IPTC copyright notice.
std::string TaggedJpeg() {
  VImage im = Photo().icc_transform("p3");
  im = WithBlob(im, VIPS_META_EXIF_NAME, ExifBlob("(c) Jane Doe 2024", 6));
  im.set(VIPS_META_ORIENTATION, 6);
  im = WithBlob(im, VIPS_META_XMP_NAME, kXmp);
  im = WithBlob(im, VIPS_META_IPTC_NAME, IptcBlob());
  return Save(im, ".jpg[Q=95]");
}

// A fully opaque mask: lossy encoders may change the colour under transparent pixels, which
// would blur the colour check below.
VImage SplitAlphaForEncode(const DecodedImage& d) {
  return (VImage::black(d.width, d.height) + 255).cast(VIPS_FORMAT_UCHAR).copy_memory();
}

std::string Field(const VImage& im, const char* name) {
  return im.get_typeof(name) ? im.get_string(name) : "";
}

struct OutCase {
  Format format;
  const char* mime;
  const char* loader;
  bool iptc;  // the format has a place for IPTC
};

class MetadataTest : public ::testing::TestWithParam<OutCase> {};

TEST_P(MetadataTest, KeptByDefaultAndStrippedOnRequest) {
  const DecodedImage d = MustDecode(TaggedJpeg());
  ASSERT_EQ(d.width, 300) << "rotated upright";
  const VImage cutout = Compose(d, SplitAlphaForEncode(d), {});
  EncodeSpec spec;
  spec.format = GetParam().format;
  std::string mime;
  Result<std::string> kept = Encode(cutout, d.metadata, spec, &mime);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(mime, GetParam().mime);
  const VImage k = Load(*kept);
  EXPECT_EQ(Field(k, "vips-loader").rfind(GetParam().loader, 0), 0u) << Field(k, "vips-loader");
  EXPECT_EQ(k.width(), 300);
  EXPECT_EQ(k.height(), 451);
  EXPECT_NE(Field(k, "exif-ifd0-Copyright").find("(c) Jane Doe 2024"), std::string::npos);
  EXPECT_NE(Field(k, "exif-ifd0-Artist").find("Jane Doe"), std::string::npos);
  EXPECT_TRUE(!k.get_typeof(VIPS_META_ORIENTATION) || k.get_int(VIPS_META_ORIENTATION) == 1);
  EXPECT_EQ(Blob(k, VIPS_META_ICC_NAME), Profile("p3"));
  // libvips 8.14's heifload does not read XMP back, so for AVIF look in the file itself (the
  // packet is stored uncompressed as a 'mime' item).
  const std::string xmp = GetParam().format == Format::kAvif ? *kept : Blob(k, VIPS_META_XMP_NAME);
  EXPECT_NE(xmp.find("Jane Doe Studio"), std::string::npos);
  EXPECT_NE(xmp.find("tiff:Orientation='1'"), std::string::npos) << xmp;
  if (GetParam().iptc) {
    EXPECT_NE(Blob(k, VIPS_META_IPTC_NAME).find("(c) Jane Doe 2024"), std::string::npos);
  }
  // Pixels went back into P3 with the profile: read through it they match the sRGB decode.
  VImage seen = k.icc_transform("srgb", VImage::option()->set("embedded", true));
  if (seen.bands() == 4) seen = seen.extract_band(0, VImage::option()->set("n", 3));
  EXPECT_LT(MeanDiff(seen, d.rgb), GetParam().format == Format::kPng ? 1.5 : 5);

  spec.keep_metadata = false;
  Result<std::string> stripped = Encode(cutout, d.metadata, spec, &mime);
  ASSERT_TRUE(stripped.ok());
  const VImage s = Load(*stripped);
  for (const char* field : {VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME, VIPS_META_IPTC_NAME,
                            VIPS_META_ICC_NAME, "exif-ifd0-Copyright"}) {
    EXPECT_FALSE(s.get_typeof(field)) << field;
  }
  EXPECT_EQ((*stripped).find("Jane Doe"), std::string::npos);
  EXPECT_EQ((*stripped).find("Exif"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Formats, MetadataTest,
                         ::testing::Values(OutCase{Format::kPng, "image/png", "pngload", false},
                                           OutCase{Format::kJpeg, "image/jpeg", "jpegload", true},
                                           OutCase{Format::kWebp, "image/webp", "webpload", false},
                                           OutCase{Format::kAvif, "image/avif", "heifload", false}),
                         [](const auto& info) { return std::string(info.param.mime + 6); });

TEST(EncodeTest, JpegIsFlattenedOnWhite) {
  DecodedImage d = MustDecode(Save(Photo(), ".png"));
  const VImage alpha = (VImage::xyz(451, 300)[0] >= 200).cast(VIPS_FORMAT_UCHAR).copy_memory();
  const VImage cutout = Compose(d, alpha, {});
  std::string mime;
  EncodeSpec spec;
  spec.format = Format::kJpeg;
  Result<std::string> jpg = Encode(cutout, d.metadata, spec, &mime);
  ASSERT_TRUE(jpg.ok());
  const VImage out = Load(*jpg);
  EXPECT_EQ(out.bands(), 3);
  for (double v : Pixel(out, 20, 150)) EXPECT_GT(v, 250);

  // PNG/WebP/AVIF keep the transparency; a 1-band mask stays a mask in PNG.
  for (Format f : {Format::kPng, Format::kWebp, Format::kAvif}) {
    spec.format = f;
    const VImage back = Load(*Encode(cutout, d.metadata, spec, &mime));
    ASSERT_EQ(back.bands(), 4);
    EXPECT_LT(Pixel(back, 20, 150)[3], 5);
    EXPECT_GT(Pixel(back, 300, 150)[3], 250);
  }
  spec.format = Format::kPng;
  const VImage mask = Load(*Encode(alpha, d.metadata, spec, &mime));
  EXPECT_EQ(mask.bands(), 1);
  EXPECT_EQ(Pixel(mask, 300, 10)[0], 255);
}

TEST(EncodeTest, NoMetadataInventedForAPlainInput) {
  const DecodedImage d = MustDecode(Save(Photo(), ".png"));
  std::string mime;
  const VImage out = Load(*Encode(d.rgb, d.metadata, {}, &mime));
  EXPECT_FALSE(out.get_typeof(VIPS_META_EXIF_NAME));
  EXPECT_FALSE(out.get_typeof(VIPS_META_XMP_NAME));
  EXPECT_LT(MeanDiff(out, Photo()), 0.01);
}

}  // namespace
}  // namespace bgerase::imaging
