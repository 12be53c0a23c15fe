// ModelInput, MaskToAlpha (bilinear and guided) and Compose: shapes and exact pixel values.
#include <algorithm>
#include <cmath>

#include "imaging/imaging.h"
#include "test_images.h"

namespace bgerase::imaging {
namespace {

using namespace testing;  // NOLINT

DecodedImage Solid(int w, int h, std::vector<double> rgb) {
  EXPECT_TRUE(InitVips().ok());
  DecodedImage d;
  d.rgb = VImage::black(w, h, VImage::option()->set("bands", 3))
              .new_from_image(rgb)
              .cast(VIPS_FORMAT_UCHAR)
              .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
              .copy_memory();
  d.width = w;
  d.height = h;
  return d;
}

DecodedImage FromPhoto() {
  DecodedImage d;
  d.rgb = Photo();
  d.width = d.rgb.width();
  d.height = d.rgb.height();
  return d;
}

// Left `split` columns 0, the rest 255.
VImage SplitAlpha(int w, int h, int split) {
  return (VImage::xyz(w, h)[0] >= split).cast(VIPS_FORMAT_UCHAR).copy_memory();
}

class ModelInputTest : public ::testing::TestWithParam<ResizeKernel> {};

TEST_P(ModelInputTest, WhiteBlackAndChannelOrder) {
  for (auto [colour, expect] : std::vector<std::pair<std::vector<double>, std::vector<float>>>{
           {{255, 255, 255}, {0.5f, 0.5f, 0.5f}},
           {{0, 0, 0}, {-0.5f, -0.5f, -0.5f}},
           {{255, 0, 51}, {0.5f, -0.5f, -0.3f}}}) {
    const engine::Tensor t = ModelInput(Solid(4000, 3000, colour), 1024, GetParam());
    ASSERT_EQ(t.shape(), (engine::Shape{1, 3, 1024, 1024}));
    ASSERT_EQ(t.dtype(), engine::DType::kFloat32);
    const float* p = t.data<float>();
    for (int c = 0; c < 3; ++c) {
      float lo = 1e9f, hi = -1e9f;
      for (int i = 0; i < 1024 * 1024; ++i) {
        lo = std::min(lo, p[c * 1024 * 1024 + i]);
        hi = std::max(hi, p[c * 1024 * 1024 + i]);
      }
      EXPECT_NEAR(lo, expect[c], 1e-5) << "channel " << c;
      EXPECT_NEAR(hi, expect[c], 1e-5) << "channel " << c;
    }
  }
}

TEST_P(ModelInputTest, SquashesWithoutKeepingAspect) {
  // 2000x500: left half white, right half black. Squashed to 256x256 the edge sits at x=128
  // on every row (a letterbox would add rows of padding instead).
  DecodedImage d = Solid(2000, 500, {0, 0, 0});
  const VImage left = (VImage::xyz(2000, 500)[0] < 1000).cast(VIPS_FORMAT_UCHAR);
  d.rgb = VImage::bandjoin({left, left, left})
              .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
              .copy_memory();
  const engine::Tensor t = ModelInput(d, 256, GetParam());
  const float* r = t.data<float>();
  // libvips' fixed-point lanczos3 coefficients may round a level down at large shrink factors.
  for (int y : {0, 128, 255}) {
    EXPECT_NEAR(r[y * 256 + 10], 0.5f, 1.5f / 255) << y;
    EXPECT_NEAR(r[y * 256 + 120], 0.5f, 0.02) << y;
    EXPECT_NEAR(r[y * 256 + 136], -0.5f, 0.02) << y;
    EXPECT_NEAR(r[y * 256 + 250], -0.5f, 1.5f / 255) << y;
  }
}

TEST_P(ModelInputTest, SmallInputsAreEnlarged) {
  const engine::Tensor t = ModelInput(FromPhoto(), 1024, GetParam());
  ASSERT_EQ(t.shape(), (engine::Shape{1, 3, 1024, 1024}));
  const float* p = t.data<float>();
  double sum = 0;
  for (int i = 0; i < 3 * 1024 * 1024; ++i) sum += p[i];
  const double mean = sum / (3 * 1024 * 1024);
  const double photo_mean = Photo().avg() / 255 - 0.5;
  EXPECT_NEAR(mean, photo_mean, 0.01);
}

// Extreme strips (under every pixel cap) still give the model its input, with the strip's
// colours: 3,000,000 x 1 failed inside libvips' resize (a 2,930x shrink) and answered 500.
TEST_P(ModelInputTest, ExtremeStripsAreScaledToo) {
  for (auto [w, h] : std::vector<std::pair<int, int>>{{3'000'000, 1}, {1, 3'000'000}, {20'000, 3}}) {
    SCOPED_TRACE(::testing::Message() << w << "x" << h);
    const engine::Tensor t = ModelInput(Solid(w, h, {255, 0, 51}), 1024, GetParam());
    ASSERT_EQ(t.shape(), (engine::Shape{1, 3, 1024, 1024}));
    const float* p = t.data<float>();
    // Within a level: lanczos3's fixed-point coefficients may round one down (see above).
    EXPECT_NEAR(p[512 * 1024 + 512], 0.5f, 1.5f / 255);
    EXPECT_NEAR(p[1024 * 1024 + 512 * 1024 + 512], -0.5f, 1.5f / 255);
    EXPECT_NEAR(p[2 * 1024 * 1024 + 512 * 1024 + 512], -0.3f, 1.5f / 255);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, ModelInputTest,
                         ::testing::Values(ResizeKernel::kLanczos3, ResizeKernel::kArea));

TEST(MaskToAlphaTest, ExactSizeAndValues) {
  std::vector<float> mask(64 * 64);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) mask[y * 64 + x] = x < 32 ? 0.0f : 1.0f;
  }
  for (auto [w, h] : std::vector<std::pair<int, int>>{{1001, 677}, {40, 17}, {64, 64}}) {
    const VImage a = MaskToAlpha(mask.data(), 64, 64, w, h);
    EXPECT_EQ(a.width(), w);
    EXPECT_EQ(a.height(), h);
    EXPECT_EQ(a.bands(), 1);
    EXPECT_EQ(a.format(), VIPS_FORMAT_UCHAR);
    EXPECT_EQ(Pixel(a, 0, h / 2)[0], 0);
    EXPECT_EQ(Pixel(a, w - 1, h / 2)[0], 255);
    EXPECT_GE(a.min(), 0);
  }
  // Half-way values stay half-way, and smoothly: no step wider than a few levels when enlarged.
  std::vector<float> ramp(16 * 16);
  for (int i = 0; i < 256; ++i) ramp[i] = (i % 16) / 15.0f;
  const VImage a = MaskToAlpha(ramp.data(), 16, 16, 1600, 100);
  double last = Pixel(a, 0, 50)[0];
  for (int x = 1; x < 1600; ++x) {
    const double v = Pixel(a, x, 50)[0];
    EXPECT_LE(std::abs(v - last), 3) << x;
    last = v;
  }
}

// A guide with a sharp vertical step at column `step`: dark blue-grey left, light orange right.
VImage StepGuide(int w, int h, int step) {
  EXPECT_TRUE(InitVips().ok());
  const VImage right = VImage::xyz(w, h)[0] >= step;
  return right.ifthenelse(std::vector<double>{230, 180, 90}, std::vector<double>{40, 60, 80})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .copy_memory();
}

// A low-resolution mask of the same step, as a model gives it: a ramp several mask pixels wide.
std::vector<float> BlurredStepMask(int mw, int mh, double step, double width) {
  std::vector<float> mask(static_cast<size_t>(mw) * mh);
  for (int y = 0; y < mh; ++y) {
    for (int x = 0; x < mw; ++x) {
      mask[static_cast<size_t>(y) * mw + x] =
          static_cast<float>(std::clamp((x + 0.5 - step) / width + 0.5, 0.0, 1.0));
    }
  }
  return mask;
}

TEST(GuidedMaskToAlphaTest, ExactSizeAndRange) {
  const VImage photo = Photo();
  const std::vector<float> mask = BlurredStepMask(64, 64, 32, 6);
  for (auto [w, h] : std::vector<std::pair<int, int>>{{1001, 677}, {40, 17}, {64, 64}, {97, 2}}) {
    const VImage guide = photo.resize(static_cast<double>(w) / photo.width(),
                                      VImage::option()->set("vscale", double(h) / photo.height()));
    ASSERT_EQ(guide.width(), w);
    ASSERT_EQ(guide.height(), h);
    const VImage a = MaskToAlpha(mask.data(), 64, 64, guide, MaskUpsampling::kGuided);
    EXPECT_EQ(a.width(), w);
    EXPECT_EQ(a.height(), h);
    EXPECT_EQ(a.bands(), 1);
    EXPECT_EQ(a.format(), VIPS_FORMAT_UCHAR);
    // Far from the mask's edge the mask is flat, so the photo's texture cannot show through.
    EXPECT_EQ(Pixel(a, 0, h / 2)[0], 0) << w;
    EXPECT_EQ(Pixel(a, w - 1, h / 2)[0], 255) << w;
  }
  // Grey and RGBA guides are taken as well (the alpha band is not part of the guide).
  const VImage grey = photo.colourspace(VIPS_INTERPRETATION_B_W);
  EXPECT_EQ(MaskToAlpha(mask.data(), 64, 64, grey, MaskUpsampling::kGuided).width(), 451);
  const VImage rgba = photo.bandjoin_const({255});
  EXPECT_EQ(MaskToAlpha(mask.data(), 64, 64, rgba, MaskUpsampling::kGuided).bands(), 1);
}

TEST(GuidedMaskToAlphaTest, BilinearChoiceIsMaskToAlpha) {
  const VImage photo = Photo();
  const std::vector<float> mask = BlurredStepMask(64, 64, 30.3, 5);
  const VImage a = MaskToAlpha(mask.data(), 64, 64, photo, MaskUpsampling::kBilinear);
  EXPECT_EQ(MeanDiff(a, MaskToAlpha(mask.data(), 64, 64, 451, 300)), 0);
}

TEST(GuidedMaskToAlphaTest, EdgeSnapsToTheGuidesStep) {
  // 100² mask -> 1000² output: a 10x enlargement, like 1024² -> 10000 px. The photo's edge sits at
  // column 503 (not on a mask pixel's border); the mask has it as a ramp 2 mask pixels wide, about
  // as soft as the model's edges.
  constexpr int kSize = 1000, kStep = 503;
  const VImage guide = StepGuide(kSize, kSize, kStep);
  const std::vector<float> mask = BlurredStepMask(100, 100, kStep / 10.0, 2);
  const VImage bilinear = MaskToAlpha(mask.data(), 100, 100, guide, MaskUpsampling::kBilinear);
  const VImage guided = MaskToAlpha(mask.data(), 100, 100, guide, MaskUpsampling::kGuided);
  auto profile = [&](const VImage& a) {
    std::vector<double> row(kSize);
    for (int x = 0; x < kSize; ++x) row[x] = Pixel(a, x, kSize / 2)[0];
    return row;
  };
  auto width = [](const std::vector<double>& row) {  // columns strictly between 10 % and 90 %
    return std::count_if(row.begin(), row.end(), [](double v) { return v > 25 && v < 230; });
  };
  auto error = [&](const std::vector<double>& row) {  // against the true step, summed
    double e = 0;
    for (int x = 0; x < kSize; ++x) e += std::abs(row[x] - (x >= kStep ? 255 : 0));
    return e;
  };
  const auto b = profile(bilinear), g = profile(guided);
  // Bilinear spreads the mask's ramp over ~20 px; the guided edge jumps where the photo does.
  EXPECT_GE(width(b), 15);
  EXPECT_LT(width(g), width(b) / 2);
  EXPECT_LT(error(g), error(b) / 2);
  EXPECT_GE(g[kStep + 1] - g[kStep - 2], 128);
  EXPECT_LE(b[kStep + 1] - b[kStep - 2], 64);
  EXPECT_LT(g[kStep - 2], 128);
  EXPECT_GT(g[kStep + 1], 128);
  // Every row is the same (the guide and the mask do not change down the image).
  EXPECT_EQ(guided.extract_area(0, 0, kSize, 1).avg(), guided.extract_area(0, 700, kSize, 1).avg());
}

TEST(GuidedMaskToAlphaTest, FlatRegionsKeepTheirValue) {
  // A constant mask over a busy photo stays constant: the photo's texture does not leak in.
  const VImage photo = Photo();
  const std::vector<float> flat(32 * 32, 0.6f);
  const VImage a = MaskToAlpha(flat.data(), 32, 32, photo, MaskUpsampling::kGuided);
  EXPECT_NEAR(a.min(), 0.6 * 255, 1);
  EXPECT_NEAR(a.max(), 0.6 * 255, 1);
  // A flat guide keeps the mask's own values away from its edges.
  const VImage grey = Solid(800, 600, {128, 128, 128}).rgb;
  const std::vector<float> mask = BlurredStepMask(64, 64, 32, 6);
  const VImage g = MaskToAlpha(mask.data(), 64, 64, grey, MaskUpsampling::kGuided);
  const VImage b = MaskToAlpha(mask.data(), 64, 64, 800, 600);
  EXPECT_EQ(Pixel(g, 50, 300)[0], 0);
  EXPECT_EQ(Pixel(g, 750, 300)[0], 255);
  // Where the guide has no edge to follow, the mask is only smoothed (by the filter's boxes): the
  // middle of its ramp stays where it was.
  EXPECT_NEAR(Pixel(g, 400, 300)[0], Pixel(b, 400, 300)[0], 2);
}

TEST(ComposeTest, CutoutKeepsAlpha) {
  const DecodedImage d = FromPhoto();
  const VImage out = Compose(d, SplitAlpha(451, 300, 200), {});
  EXPECT_EQ(out.width(), 451);
  EXPECT_EQ(out.bands(), 4);
  EXPECT_EQ(Pixel(out, 10, 10)[3], 0);
  EXPECT_EQ(Pixel(out, 300, 10)[3], 255);
  std::vector<double> rgb = Pixel(d.rgb, 300, 10);
  rgb.push_back(255);
  EXPECT_EQ(Pixel(out, 300, 10), rgb);
}

TEST(ComposeTest, OpaqueBackgroundGivesRgb) {
  const DecodedImage d = FromPhoto();
  ComposeSpec spec;
  spec.background = std::array<uint8_t, 4>{255, 0, 0, 255};
  const VImage out = Compose(d, SplitAlpha(451, 300, 200), spec);
  EXPECT_EQ(out.bands(), 3);
  EXPECT_EQ(Pixel(out, 10, 10), (std::vector<double>{255, 0, 0}));
  EXPECT_EQ(Pixel(out, 300, 10), Pixel(d.rgb, 300, 10));
}

TEST(ComposeTest, TranslucentBackgroundBlendsAndKeepsAlpha) {
  const DecodedImage d = FromPhoto();
  ComposeSpec spec;
  spec.background = std::array<uint8_t, 4>{0, 0, 255, 128};
  const VImage out = Compose(d, SplitAlpha(451, 300, 200), spec);
  ASSERT_EQ(out.bands(), 4);
  const std::vector<double> bg = Pixel(out, 10, 10);
  EXPECT_EQ(bg[2], 255);
  EXPECT_EQ(bg[0], 0);
  EXPECT_NEAR(bg[3], 128, 1);
  std::vector<double> fg = Pixel(d.rgb, 300, 10);
  fg.push_back(255);
  const std::vector<double> got = Pixel(out, 300, 10);
  for (int b = 0; b < 4; ++b) EXPECT_NEAR(got[b], fg[b], 1) << b;
}

TEST(ComposeTest, CropThenResize) {
  const DecodedImage d = FromPhoto();
  ComposeSpec spec;
  spec.crop_left = 150;
  spec.crop_top = 20;
  spec.crop_width = 100;
  spec.crop_height = 50;
  VImage out = Compose(d, SplitAlpha(451, 300, 200), spec);
  ASSERT_EQ(out.width(), 100);
  ASSERT_EQ(out.height(), 50);
  EXPECT_EQ(Pixel(out, 49, 0)[3], 0);    // x=199 in the photo
  EXPECT_EQ(Pixel(out, 50, 0)[3], 255);  // x=200
  std::vector<double> rgb = Pixel(d.rgb, 249, 60);
  rgb.push_back(255);
  EXPECT_EQ(Pixel(out, 100 - 1, 40), rgb);

  spec.out_width = 50;
  spec.out_height = 25;
  out = Compose(d, SplitAlpha(451, 300, 200), spec);
  EXPECT_EQ(out.width(), 50);
  EXPECT_EQ(out.height(), 25);
  EXPECT_EQ(Pixel(out, 5, 10)[3], 0);
  EXPECT_EQ(Pixel(out, 45, 10)[3], 255);
  // Premultiplied resizing: colours next to the transparent half are the photo's, not black.
  const std::vector<double> edge = Pixel(out, 25, 10);
  const std::vector<double> ref = Pixel(d.rgb.extract_area(200, 20, 4, 50).resize(0.5), 0, 20);
  for (int b = 0; b < 3; ++b) EXPECT_NEAR(edge[b], ref[b], 40) << b;

  // A crop reaching past the edge is clamped.
  spec = {};
  spec.crop_left = 400;
  spec.crop_top = 250;
  spec.crop_width = 500;
  spec.crop_height = 500;
  out = Compose(d, SplitAlpha(451, 300, 200), spec);
  EXPECT_EQ(out.width(), 51);
  EXPECT_EQ(out.height(), 50);
}

TEST(ComposeTest, AlphaOnlyAndInputAlpha) {
  DecodedImage d = FromPhoto();
  // The input itself is transparent in its bottom 100 rows.
  d.alpha = (VImage::xyz(451, 300)[1] < 200).cast(VIPS_FORMAT_UCHAR).copy_memory();
  ComposeSpec spec;
  spec.alpha_only = true;
  const VImage mask = Compose(d, SplitAlpha(451, 300, 200), spec);
  EXPECT_EQ(mask.bands(), 1);
  EXPECT_EQ(Pixel(mask, 10, 10)[0], 0);
  EXPECT_EQ(Pixel(mask, 300, 10)[0], 255);
  EXPECT_EQ(Pixel(mask, 300, 250)[0], 0) << "input transparency is lost";
  spec.out_width = 45;
  spec.out_height = 30;
  EXPECT_EQ(Compose(d, SplitAlpha(451, 300, 200), spec).width(), 45);
}

// A red subject on a green backdrop whose 4 px border is half covered: the photo shows the mix
// (100, 100, 0) there. Despill must give the edge back its own red and leave the rest alone.
TEST(DespillTest, UnmixesTheBackgroundFromEdgePixels) {
  constexpr int kW = 200, kH = 160;
  DecodedImage im = Solid(kW, kH, {0, 200, 0});
  const VImage xyz = VImage::xyz(kW, kH);
  const VImage x = xyz[0], y = xyz[1];
  const VImage inner = (x >= 64) & (x < 136) & (y >= 44) & (y < 116);
  const VImage outer = (x >= 60) & (x < 140) & (y >= 40) & (y < 120);
  const VImage ring = outer & (inner == 0);
  const VImage alpha = inner.ifthenelse(255, ring.ifthenelse(128, 0)).cast(VIPS_FORMAT_UCHAR);
  im.rgb = inner
               .ifthenelse(std::vector<double>{200, 0, 0},
                           ring.ifthenelse(std::vector<double>{100, 100, 0}, im.rgb))
               .cast(VIPS_FORMAT_UCHAR)
               .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
               .copy_memory();
  const VImage out = Despill(im.rgb, alpha).copy_memory();
  ASSERT_EQ(out.bands(), 3);
  ASSERT_EQ(out.width(), kW);
  auto px = [&](int px, int py) { return out.getpoint(px, py); };
  for (auto [ex, ey] : {std::pair{61, 80}, {138, 80}, {100, 41}, {100, 118}}) {
    const auto p = px(ex, ey);
    EXPECT_NEAR(p[0], 200, 12) << ex << "," << ey;
    EXPECT_LT(p[1], 15) << ex << "," << ey;  // the green spill is gone
  }
  EXPECT_EQ(px(100, 80), (std::vector<double>{200, 0, 0}));  // opaque: unchanged
  EXPECT_EQ(px(5, 5), (std::vector<double>{0, 200, 0}));     // transparent: unchanged

  // Through Compose: the cut-out's edge is red, not the olive mix, only when asked.
  ComposeSpec spec;
  spec.despill = true;
  const VImage cut = Compose(im, alpha, spec).copy_memory();
  EXPECT_LT(cut.getpoint(61, 80)[1], 15);
  EXPECT_EQ(cut.getpoint(61, 80)[3], 128);
  spec.despill = false;
  EXPECT_EQ(Compose(im, alpha, spec).copy_memory().getpoint(61, 80)[1], 100);
}

}  // namespace
}  // namespace bgerase::imaging
