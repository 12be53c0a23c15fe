// Pipeline::Render on synthetic photos and masks with a known subject, through real libvips: what
// the options do to the pixels (region of interest, …), with no model in the loop.
#include <gtest/gtest.h>

#include <vips/vips8>

#include "imaging/imaging.h"
#include "removal/pipeline.h"

namespace bgerase::removal {
namespace {

using vips::VImage;

// A w x h mid-grey PNG, through the same Prepare as every real request.
PreparedImage GreyPhoto(int w, int h) {
  VImage grey = (VImage::black(w, h, VImage::option()->set("bands", 3)) + 128)
                    .cast(VIPS_FORMAT_UCHAR)
                    .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  void* buf = nullptr;
  size_t len = 0;
  grey.write_to_buffer(".png", &buf, &len);
  const std::string png(static_cast<const char*>(buf), len);
  g_free(buf);
  auto prepared = Pipeline::Prepare(png, imaging::DecodeLimits{});
  EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
  return std::move(prepared).value();
}

// The model's mask as if it had found everything to be foreground.
InferredImage AllForeground(PreparedImage p) {
  InferredImage in{std::move(p),
                   engine::Tensor(engine::DType::kFloat32, {1, 1, kModelSize, kModelSize}), 0};
  std::fill_n(in.mask.data<float>(), kModelSize * kModelSize, 1.0f);
  return in;
}

RemovalOptions WithFields(const OptionFields& fields) {
  auto o = ParseRemovalOptions(fields);
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  return o.ok() ? *o : RemovalOptions{};
}

// The alpha band of an encoded RGBA result.
VImage AlphaOf(const RemovalResult& r) {
  VImage out = VImage::new_from_buffer(r.bytes.data(), r.bytes.size(), "");
  EXPECT_EQ(out.bands(), 4);
  return out[3];
}

class RenderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(imaging::InitVips().ok()); }
};

TEST_F(RenderTest, RoiZeroesAlphaOutsideTheRegion) {
  // 200x100; 25%..75% across and 20..80 px down: x in [50, 150), y in [20, 80).
  auto r = Pipeline::Render(AllForeground(GreyPhoto(200, 100)),
                            WithFields({{"roi", "25% 20 75% 80px"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const VImage a = AlphaOf(*r);
  EXPECT_EQ(a.extract_area(50, 20, 100, 60).min(), 255);  // inside: the subject as found
  EXPECT_EQ(a.extract_area(0, 0, 50, 100).max(), 0);      // left of it
  EXPECT_EQ(a.extract_area(150, 0, 50, 100).max(), 0);    // right
  EXPECT_EQ(a.extract_area(0, 0, 200, 20).max(), 0);      // above
  EXPECT_EQ(a.extract_area(0, 80, 200, 20).max(), 0);     // below
  EXPECT_EQ(r->foreground, (Box{50, 20, 100, 60}));
}

TEST_F(RenderTest, WholeImageRoiChangesNothing) {
  auto whole =
      Pipeline::Render(AllForeground(GreyPhoto(64, 48)), WithFields({{"roi", "0% 0% 100% 100%"}}));
  auto none = Pipeline::Render(AllForeground(GreyPhoto(64, 48)), RemovalOptions{});
  ASSERT_TRUE(whole.ok() && none.ok());
  EXPECT_EQ(whole->bytes, none->bytes);
}

TEST_F(RenderTest, RoiOutsideTheImageOrReversedIsABadRequest) {
  for (const char* roi :
       {"0 0 201 100", "0 0 200 101", "150 0 50 100", "0 60 200 40", "10% 10% 10% 90%"}) {
    auto r = Pipeline::Render(AllForeground(GreyPhoto(200, 100)), WithFields({{"roi", roi}}));
    ASSERT_FALSE(r.ok()) << roi;
    EXPECT_EQ(r.status().code(), "bad_request") << roi;
    EXPECT_NE(r.status().message().find("roi"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("200x100"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace bgerase::removal
