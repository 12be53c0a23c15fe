// Pipeline::Render on synthetic photos and masks with a known subject, through real libvips: what
// the options do to the pixels (region of interest, …), with no model in the loop.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vips/vips8>

#include "../imaging/test_images.h"
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

// The model's mask as if it had found one rectangle of foreground: [x0, x1) x [y0, y1) in
// fractions of the image.
InferredImage RectangleFound(PreparedImage p, double x0, double y0, double x1, double y1) {
  InferredImage in = AllForeground(std::move(p));
  float* m = in.mask.data<float>();
  for (int y = 0; y < kModelSize; ++y)
    for (int x = 0; x < kModelSize; ++x) {
      const double fx = (x + 0.5) / kModelSize, fy = (y + 0.5) / kModelSize;
      m[y * kModelSize + x] = fx >= x0 && fx < x1 && fy >= y0 && fy < y1 ? 1.0f : 0.0f;
    }
  return in;
}

// `got` within `tolerance` pixels of `want` on every side.
void ExpectBoxNear(const Box& got, const Box& want, int tolerance, const std::string& what) {
  EXPECT_NEAR(got.left, want.left, tolerance) << what;
  EXPECT_NEAR(got.top, want.top, tolerance) << what;
  EXPECT_NEAR(got.left + got.width, want.left + want.width, tolerance) << what;
  EXPECT_NEAR(got.top + got.height, want.top + want.height, tolerance) << what;
}

// A side x side background: its top fifth green, below that red on the left half and blue on the
// right. Covering a 2:1 output cuts the top and bottom off, so no green may show.
std::shared_ptr<const std::string> StripedBackground(int side, bool clear_left = false) {
  VImage x = VImage::xyz(side, side);
  VImage top = x[1] < side / 5, left = x[0] < side / 2;
  VImage r = top.ifthenelse(0, left.ifthenelse(255, 0));
  VImage g = top.ifthenelse(255, 0);
  VImage b = top.ifthenelse(0, left.ifthenelse(0, 255));
  VImage im = r.bandjoin(g).bandjoin(b).cast(VIPS_FORMAT_UCHAR);
  if (clear_left) im = im.bandjoin(left.ifthenelse(0, 255).cast(VIPS_FORMAT_UCHAR));
  im = im.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  return std::make_shared<const std::string>(imaging::testing::Save(im, ".png"));
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

// A 1024 x 1024 photo (the mask's own size, so the mask is the alpha as given) of a red disc
// whose edge fades over 24 px into a green background, and the model's mask as exactly that
// alpha. The true foreground colour is red everywhere the disc shows.
InferredImage SoftRedDiscOnGreen() {
  const int side = kModelSize;
  const VImage xy = VImage::xyz(side, side) - side / 2;
  const VImage d = (xy[0] * xy[0] + xy[1] * xy[1]).pow(0.5);
  const VImage a = ((300 - d) / 24).cast(VIPS_FORMAT_FLOAT);
  const VImage alpha = (a > 1).ifthenelse(1, (a < 0).ifthenelse(0, a));
  const VImage red = VImage::black(side, side) + std::vector<double>{220, 30, 30};
  const VImage green = VImage::black(side, side) + std::vector<double>{40, 170, 60};
  const VImage photo = (red * alpha + green * (1 - alpha))
                           .cast(VIPS_FORMAT_UCHAR)
                           .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  auto prepared = Pipeline::Prepare(imaging::testing::Save(photo, ".png"), imaging::DecodeLimits{});
  EXPECT_TRUE(prepared.ok());
  InferredImage in = AllForeground(std::move(prepared).value());
  const VImage mask = alpha.copy_memory();
  const auto* m = static_cast<const float*>(vips_image_get_data(mask.get_image()));
  std::copy_n(m, side * side, in.mask.data<float>());
  return in;
}

TEST_F(RenderTest, BalancedAndBestGiveSoftEdgesTheSubjectsOwnColour) {
  std::map<std::string, VImage> out;
  for (const std::string mode : {"fast", "balanced", "best"}) {
    // refine off: this is about the colour under a given alpha (refine_test.cpp has the alpha).
    auto r = Pipeline::Render(SoftRedDiscOnGreen(),
                              WithFields({{"quality_mode", mode}, {"refine", "off"}}));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    out[mode] = imaging::testing::Load(r->bytes).cast(VIPS_FORMAT_FLOAT);
  }
  const VImage a = out["fast"][3];
  const VImage soft = (a > 25) & (a < 230);  // where the disc shows, mixed with the green
  ASSERT_GT(soft.avg(), 0);
  // The error of the shown colour against the true red, over the soft pixels, in 8-bit levels.
  auto edge_error = [&](const VImage& im) {
    const VImage err = ((im[0] - 220).abs() + (im[1] - 30).abs() + (im[2] - 30).abs()) / 3;
    return (err * (soft / 255)).avg() / (soft.avg() / 255);
  };
  const double fast = edge_error(out["fast"]), balanced = edge_error(out["balanced"]),
               best = edge_error(out["best"]);
  EXPECT_GT(fast, 40) << "fast shows the photo's mix of red and green";
  EXPECT_LT(balanced, fast / 4);
  EXPECT_LT(best, fast / 4);
  // Alpha is the mask's in every mode; the colour estimation never moves it.
  for (const std::string mode : {"balanced", "best"})
    EXPECT_EQ((out[mode][3] - a).abs().max(), 0) << mode;
}

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

TEST_F(RenderTest, ScaleAndPositionPutTheSubjectWhereTheNumbersSay) {
  // A 400 x 200 photo whose subject is x 100..200, y 50..150 (a 100 x 100 box).
  auto found = [] { return RectangleFound(GreyPhoto(400, 200), 0.25, 0.25, 0.5, 0.75); };
  auto original = Pipeline::Render(found(), RemovalOptions{});
  ASSERT_TRUE(original.ok());
  ExpectBoxNear(original->foreground, {100, 50, 100, 100}, 2, "as found");
  const std::vector<std::pair<OptionFields, Box>> cases = {
      {{{"scale", "100%"}}, {100, 0, 200, 200}},  // fits the height, centred
      {{{"scale", "50%"}, {"position", "0% 100%"}}, {0, 100, 100, 100}},  // bottom left
      {{{"position", "100% 0%"}}, {300, 0, 100, 100}},                    // moved, same size
      {{{"scale", "25%"}, {"position", "original"}}, {125, 75, 50, 50}},  // around its centre
  };
  for (const auto& [fields, want] : cases) {
    const std::string what = fields.front().first + "=" + fields.front().second;
    auto r = Pipeline::Render(found(), WithFields(fields));
    ASSERT_TRUE(r.ok()) << what << ": " << r.status().ToString();
    EXPECT_EQ(r->width, 400);
    EXPECT_EQ(r->height, 200);
    ExpectBoxNear(r->foreground, want, 2, what);
    const VImage a = AlphaOf(*r);
    // Inside the new box the subject is opaque; where it was (and is no longer) it is gone.
    EXPECT_GT(a.extract_area(want.left + 4, want.top + 4, want.width - 8, want.height - 8).min(),
              200)
        << what;
  }
  // Moved away from where it was: the old place is background now.
  auto moved = Pipeline::Render(found(), WithFields({{"position", "100% 0%"}}));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(AlphaOf(*moved).extract_area(100, 50, 100, 100).max(), 0);
}

TEST_F(RenderTest, PositionWithABackgroundColourMovesOnlyTheSubject) {
  auto r = Pipeline::Render(RectangleFound(GreyPhoto(400, 200), 0.25, 0.25, 0.5, 0.75),
                            WithFields({{"position", "100% 100%"}, {"bg_color", "red"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  VImage out = VImage::new_from_buffer(r->bytes.data(), r->bytes.size(), "");
  ASSERT_EQ(out.bands(), 3);  // flattened onto the opaque colour (jpg or png)
  // The old place is red now; the subject (mid-grey) sits in the bottom-right corner.
  EXPECT_GT(out.extract_area(110, 60, 80, 80)[0].avg(), 240);
  EXPECT_LT(out.extract_area(110, 60, 80, 80)[1].avg(), 15);
  EXPECT_NEAR(out.extract_area(310, 110, 80, 80)[0].avg(), 128, 3);
  EXPECT_NEAR(out.extract_area(310, 110, 80, 80)[1].avg(), 128, 3);
}

TEST_F(RenderTest, ShadowDarkensTheBackgroundUnderTheSubjectAndLeavesTheSubjectAlone) {
  // Subject x 100..200, y 50..150 on 400 x 200; on white, and on nothing (transparent PNG).
  auto found = [] { return RectangleFound(GreyPhoto(400, 200), 0.25, 0.25, 0.5, 0.75); };
  auto plain = Pipeline::Render(found(), WithFields({{"bg_color", "white"}, {"format", "png"}}));
  ASSERT_TRUE(plain.ok());
  const VImage before = VImage::new_from_buffer(plain->bytes.data(), plain->bytes.size(), "");
  for (const char* type : {"drop", "car", "3D"}) {
    auto r = Pipeline::Render(found(), WithFields({{"bg_color", "white"},
                                                   {"format", "png"},
                                                   {"add_shadow", "true"},
                                                   {"shadow_type", type}}));
    ASSERT_TRUE(r.ok()) << type << ": " << r.status().ToString();
    const VImage out = VImage::new_from_buffer(r->bytes.data(), r->bytes.size(), "");
    // The subject's own pixels: exactly as without a shadow.
    EXPECT_EQ(
        (out.extract_area(104, 54, 92, 92) - before.extract_area(104, 54, 92, 92)).abs().max(), 0)
        << type;
    // Somewhere around its base the background is darker than white; far away it is white.
    EXPECT_LT(out.extract_area(100, 140, 130, 30).min(), 230) << type;
    EXPECT_EQ(out.extract_area(300, 0, 100, 40).min(), 255) << type;
    EXPECT_EQ(out.extract_area(0, 0, 60, 200).min(), 255) << type;
  }
  // Transparent output: the shadow is in the alpha, black and partly transparent.
  auto clear =
      Pipeline::Render(found(), WithFields({{"add_shadow", "true"}, {"shadow_opacity", "80"}}));
  ASSERT_TRUE(clear.ok());
  const VImage a = AlphaOf(*clear);
  EXPECT_GT(a.extract_area(200, 50, 8, 100).max(), 40);   // just right of the subject
  EXPECT_LT(a.extract_area(200, 50, 8, 100).max(), 255);  // but never opaque
  EXPECT_EQ(a.extract_area(300, 0, 100, 40).max(), 0);
  // Off: nothing changes.
  auto off = Pipeline::Render(
      found(), WithFields({{"add_shadow", "false"}, {"bg_color", "white"}, {"format", "png"}}));
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->bytes, plain->bytes);
}

TEST_F(RenderTest, BackgroundImageCoversTheOutputCentredAndLeavesTheSubjectAlone) {
  // Subject x 100..200, y 50..150 on 400 x 200. The background is enlarged (100 px square: 4x,
  // drawn in the pass) or shrunk (1600 px: 1/4, by libvips); either way it covers 400 x 400 and
  // its middle 200 rows show.
  for (int side : {100, 1600}) {
    RemovalOptions o = WithFields({{"format", "auto"}});
    o.bg_image = StripedBackground(side);
    auto r = Pipeline::Render(RectangleFound(GreyPhoto(400, 200), 0.25, 0.25, 0.5, 0.75), o);
    ASSERT_TRUE(r.ok()) << side << ": " << r.status().ToString();
    EXPECT_EQ(r->mime, "image/jpeg") << side;  // auto: an opaque background makes a JPEG
    const VImage out = VImage::new_from_buffer(r->bytes.data(), r->bytes.size(), "");
    ASSERT_EQ(out.bands(), 3) << side;
    ASSERT_EQ(out.width(), 400);
    ASSERT_EQ(out.height(), 200);
    // No green anywhere (the cover cut the top fifth off), red left, blue right.
    EXPECT_LT(out.extract_area(0, 0, 90, 200)[1].max(), 60) << side;
    EXPECT_LT(out.extract_area(210, 0, 190, 200)[1].max(), 60) << side;
    EXPECT_GT(out.extract_area(0, 0, 90, 200)[0].avg(), 235) << side;
    EXPECT_LT(out.extract_area(0, 0, 90, 200)[2].avg(), 20) << side;
    EXPECT_GT(out.extract_area(210, 0, 190, 200)[2].avg(), 235) << side;
    EXPECT_LT(out.extract_area(210, 0, 190, 200)[0].avg(), 20) << side;
    // The subject: its own mid-grey (JPEG rounding aside).
    EXPECT_NEAR(out.extract_area(110, 60, 80, 80)[0].avg(), 128, 3) << side;
    EXPECT_NEAR(out.extract_area(110, 60, 80, 80)[2].avg(), 128, 3) << side;
  }
}

TEST_F(RenderTest, TransparencyInTheBackgroundImageStaysInTheOutput) {
  RemovalOptions o = WithFields({{"format", "auto"}});
  o.bg_image = StripedBackground(100, /*clear_left=*/true);
  auto r = Pipeline::Render(RectangleFound(GreyPhoto(400, 200), 0.25, 0.25, 0.5, 0.75), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->mime, "image/png");  // auto keeps the transparency
  const VImage a = AlphaOf(*r);
  EXPECT_EQ(a.extract_area(0, 0, 90, 200).max(), 0);       // clear background, no subject
  EXPECT_EQ(a.extract_area(210, 0, 190, 200).min(), 255);  // opaque background
  EXPECT_EQ(a.extract_area(104, 54, 92, 92).min(), 255);   // the subject
}

TEST_F(RenderTest, ShadowOnABackgroundImageDarkensItUnderTheSubject) {
  auto found = [] { return RectangleFound(GreyPhoto(400, 200), 0.25, 0.25, 0.5, 0.75); };
  RemovalOptions plain = WithFields({{"format", "png"}});
  plain.bg_image = StripedBackground(100);
  RemovalOptions shadowed = WithFields({{"format", "png"}, {"add_shadow", "true"}});
  shadowed.bg_image = plain.bg_image;
  auto a = Pipeline::Render(found(), plain), b = Pipeline::Render(found(), shadowed);
  ASSERT_TRUE(a.ok() && b.ok());
  const VImage before = VImage::new_from_buffer(a->bytes.data(), a->bytes.size(), "");
  const VImage after = VImage::new_from_buffer(b->bytes.data(), b->bytes.size(), "");
  EXPECT_EQ(
      (after.extract_area(104, 54, 92, 92) - before.extract_area(104, 54, 92, 92)).abs().max(), 0);
  // Just right of and below the subject, the blue background is darker; far away unchanged.
  EXPECT_LT(after.extract_area(200, 60, 8, 90)[2].avg(),
            before.extract_area(200, 60, 8, 90)[2].avg() - 20);
  EXPECT_EQ(
      (after.extract_area(300, 0, 100, 40) - before.extract_area(300, 0, 100, 40)).abs().max(), 0);
}

TEST_F(RenderTest, ABackgroundImageThatIsNotAnImageIsRefusedByName) {
  RemovalOptions o;
  o.bg_image = std::make_shared<const std::string>("not an image");
  auto r = Pipeline::Render(AllForeground(GreyPhoto(64, 64)), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "unsupported_image");
  EXPECT_NE(r.status().message().find("background image"), std::string::npos)
      << r.status().message();
  // A mask-only answer has no background to draw: the image is not even looked at.
  o.channels = Channels::kAlpha;
  EXPECT_TRUE(Pipeline::Render(AllForeground(GreyPhoto(64, 64)), o).ok());
}

}  // namespace
}  // namespace bgerase::removal
