// End to end: the built `bgerase remove` with the real model on real photographs (Debian's
// python3-skimage data), read back with libvips the way a customer's tools would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "../imaging/test_images.h"
#include "engine/session.h"

namespace bgerase::e2e {
namespace {
namespace fs = std::filesystem;
using imaging::testing::ExifBlob;
using imaging::testing::Load;
using imaging::testing::Photo;
using imaging::testing::Profile;
using imaging::testing::ReadFile;
using imaging::testing::Save;
using imaging::testing::WithBlob;
using vips::VImage;

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout
};

CliRun Bgerase(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(BGERASE_BINARY) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Mean alpha (0..255) over a rectangle of a 4-band image.
double MeanAlpha(const VImage& im, int left, int top, int w, int h) {
  return im.extract_area(left, top, w, h).extract_band(im.bands() - 1).avg();
}

class RemoveCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(imaging::InitVips().ok());  // gtest_discover_tests runs each test alone
    dir_ = fs::path(::testing::TempDir()) / ("bgerase-e2e-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in" / "nested");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RemoveCli, BatchKeepsSubjectsDropsBackgroundsAndSurvivesBadFiles) {
  WriteFile(dir_ / "in" / "astronaut.png", ReadFile(imaging::testing::kSkimage + "astronaut.png"));
  WriteFile(dir_ / "in" / "nested" / "coffee.png",
            ReadFile(imaging::testing::kSkimage + "coffee.png"));
  const std::string jpeg = Save(Photo("astronaut.png"), ".jpg[Q=90]");
  WriteFile(dir_ / "in" / "truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
  WriteFile(dir_ / "in" / "notes.png", "these are not pixels\n");
  const CliRun r = Bgerase("remove '" + (dir_ / "in").string() + "' --out-dir '" +
                           (dir_ / "out").string() + "' --json");
  EXPECT_EQ(r.exit_code, 1) << "a failed file makes the batch exit non-zero";
  std::map<std::string, nlohmann::json> lines;
  std::stringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) {
    auto j = nlohmann::json::parse(line);
    lines[fs::path(j["input"].get<std::string>()).filename().string()] = j;
  }
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines["truncated.jpg"]["error"]["code"], "corrupt_image");
  EXPECT_EQ(lines["notes.png"]["error"]["code"], "unsupported_image");
  ASSERT_FALSE(lines["astronaut.png"].contains("error")) << lines["astronaut.png"];
  ASSERT_FALSE(lines["coffee.png"].contains("error")) << lines["coffee.png"];

  // Astronaut 512x512 on a white studio background: face and suit kept, top-right wall gone.
  const VImage astro = VImage::new_from_file((dir_ / "out" / "astronaut.png").string().c_str());
  EXPECT_EQ(astro.width(), 512);
  EXPECT_EQ(astro.bands(), 4);
  EXPECT_GT(MeanAlpha(astro, 200, 90, 60, 60), 240) << "face";
  EXPECT_GT(MeanAlpha(astro, 100, 350, 80, 80), 240) << "suit";
  EXPECT_LT(MeanAlpha(astro, 400, 10, 100, 100), 15) << "wall";
  // Coffee 600x400, mirrored into the nested folder: the cup kept, the table corner gone.
  const VImage cup =
      VImage::new_from_file((dir_ / "out" / "nested" / "coffee.png").string().c_str());
  EXPECT_EQ(cup.width(), 600);
  EXPECT_GT(MeanAlpha(cup, 220, 120, 60, 60), 240) << "cup";
  EXPECT_LT(MeanAlpha(cup, 0, 0, 40, 40), 15) << "corner";
  const auto fg = lines["coffee.png"]["foreground"];
  EXPECT_GT(fg["width"].get<int>(), 300);
  EXPECT_LT(fg["left"].get<int>(), 220);
}

TEST_F(RemoveCli, EveryOutputFormatDecodesWithTheRightSizeAndAlpha) {
  const fs::path in = dir_ / "in" / "chelsea.png";
  WriteFile(in, ReadFile(imaging::testing::kSkimage + "chelsea.png"));
  struct Case {
    std::string args, ext;
    int bands;
  };
  for (const Case& c : std::vector<Case>{{"--format png", ".png", 4},
                                         {"--format jpg", ".jpg", 3},
                                         {"--format webp", ".webp", 4},
                                         {"--format avif", ".avif", 4},
                                         {"--channels alpha", ".png", 1},
                                         {"--format jpeg --bg-color '#00ff00'", ".jpg", 3},
                                         {"--size preview", ".png", 4}}) {
    SCOPED_TRACE(c.args);
    const fs::path out = dir_ / ("out" + c.ext);
    const CliRun r = Bgerase("remove '" + in.string() + "' -o '" + out.string() + "' " + c.args);
    ASSERT_EQ(r.exit_code, 0);
    const VImage im = Load(ReadFile(out.string()));
    EXPECT_EQ(im.bands(), c.bands);
    if (c.args == "--size preview") {
      EXPECT_LE(static_cast<int64_t>(im.width()) * im.height(), 250'000);
      EXPECT_LT(std::abs(static_cast<double>(im.width()) / im.height() - 451.0 / 300), 0.02);
    } else {
      EXPECT_EQ(im.width(), 451);
      EXPECT_EQ(im.height(), 300);
    }
    fs::remove(out);
  }
}

TEST_F(RemoveCli, MetadataTravelsByDefaultAndStripRemovesIt) {
  VImage photo =
      WithBlob(Photo("coffee.png"), VIPS_META_EXIF_NAME, ExifBlob("(c) Jane Doe 2026", 1));
  photo = WithBlob(photo, VIPS_META_ICC_NAME, Profile("srgb"));
  const fs::path in = dir_ / "in" / "coffee.jpg";
  WriteFile(in, Save(photo, ".jpg[Q=92]"));
  for (const std::string fmt : {"png", "jpg", "webp", "avif"}) {
    SCOPED_TRACE(fmt);
    const fs::path kept = dir_ / ("kept." + fmt), stripped = dir_ / ("stripped." + fmt);
    ASSERT_EQ(Bgerase("remove '" + in.string() + "' -o '" + kept.string() + "' --format " + fmt)
                  .exit_code,
              0);
    ASSERT_EQ(Bgerase("remove '" + in.string() + "' -o '" + stripped.string() + "' --format " +
                      fmt + " --metadata strip")
                  .exit_code,
              0);
    const VImage k = Load(ReadFile(kept.string()));
    ASSERT_GT(k.get_typeof("exif-ifd0-Copyright"), 0u) << "no EXIF copyright kept";
    EXPECT_NE(std::string(k.get_string("exif-ifd0-Copyright")).find("Jane Doe"), std::string::npos);
    EXPECT_GT(k.get_typeof(VIPS_META_ICC_NAME), 0u) << "no ICC profile kept";
    const VImage s = Load(ReadFile(stripped.string()));
    EXPECT_EQ(s.get_typeof("exif-ifd0-Copyright"), 0u);
    EXPECT_EQ(s.get_typeof(VIPS_META_ICC_NAME), 0u);
  }
}

TEST_F(RemoveCli, RotatedPhotoComesOutUprightAndStdinWorks) {
  VImage stored = Photo("chelsea.png");  // 451x300, stored sideways with orientation 6
  stored = WithBlob(stored, VIPS_META_EXIF_NAME, ExifBlob("", 6));
  stored.set(VIPS_META_ORIENTATION, 6);
  const fs::path in = dir_ / "in" / "sideways.jpg";
  WriteFile(in, Save(stored, ".jpg[Q=92]"));
  const fs::path out = dir_ / "upright.png";
  const CliRun r = Bgerase("remove - -o '" + out.string() + "' < '" + in.string() + "'");
  ASSERT_EQ(r.exit_code, 0);
  const VImage up = Load(ReadFile(out.string()));
  EXPECT_EQ(up.width(), 300);
  EXPECT_EQ(up.height(), 451);
  // stdout too: `bgerase remove - < in > out`
  const CliRun piped = Bgerase("remove - < '" + in.string() + "'");
  ASSERT_EQ(piped.exit_code, 0);
  EXPECT_EQ(Load(piped.out).width(), 300);
}

// Every precision runs on any CPU or is refused clearly: fp32 always; int8 (calibrated by setup)
// within the quality guard's mean |diff| of fp32; bf16 where the CPU has AVX-512, else refused
// with unsupported_precision; auto is one of them. CTest runs this suite again capped at AVX2.
TEST_F(RemoveCli, EveryPrecisionRunsOrIsRefusedClearly) {
  const std::string in = std::string(imaging::testing::kSkimage) + "astronaut.png";
  std::map<std::string, VImage> masks;
  for (const std::string p : {"fp32", "int8", "bf16", "auto"}) {
    SCOPED_TRACE(p);
    const fs::path out = dir_ / ("mask-" + p + ".png");
    std::string answer;
    FILE* f = popen((std::string(BGERASE_BINARY) + " remove '" + in + "' -o '" + out.string() +
                     "' --channels alpha --json --precision " + p + " 2>&1")
                        .c_str(),
                    "r");
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) answer.append(buf, n);
    const int st = pclose(f);
    if (p == "bf16" && !engine::Bf16Available()) {
      EXPECT_NE(WEXITSTATUS(st), 0);
      EXPECT_NE(answer.find("unsupported_precision"), std::string::npos) << answer;
      EXPECT_FALSE(fs::exists(out));
      continue;
    }
    ASSERT_EQ(WEXITSTATUS(st), 0) << answer;
    masks[p] = Load(ReadFile(out.string()));
  }
  const VImage& fp32 = masks.at("fp32");
  for (const auto& [p, m] : masks) {
    SCOPED_TRACE(p);
    ASSERT_EQ(m.width(), fp32.width());
    const double mean_diff = (m.cast(VIPS_FORMAT_FLOAT) - fp32.cast(VIPS_FORMAT_FLOAT)).abs().avg();
    EXPECT_LE(mean_diff / 255.0, 0.01);
    EXPECT_GT(MeanAlpha(m.bandjoin(m), 200, 150, 100, 100), 200) << "the astronaut is kept";
  }
}

// Runs skip re-hashing the model while its file keeps the identity it had when last fully
// checked (a stamp beside it); a rewritten file is hashed again and refused, and
// `models verify` always hashes, so even a same-size, same-mtime change is caught there.
TEST_F(RemoveCli, ModelChecksumIsStampedAndRecheckedWhenTheFileChanges) {
  const fs::path models = dir_ / "models";
  fs::create_directories(models);
  const std::string name = "isnet-general-fp16.onnx";
  fs::copy_file(fs::path(BGERASE_SOURCE_DIR) / "models" / name, models / name);
  const std::string in = std::string(imaging::testing::kSkimage) + "coffee.png";
  const std::string flags = " --model-dir '" + models.string() + "' --precision fp32";
  ASSERT_EQ(Bgerase("remove '" + in + "' -o '" + (dir_ / "a.png").string() + "'" + flags).exit_code,
            0);
  ASSERT_TRUE(fs::exists(models / (name + ".verified"))) << "a full check leaves its stamp";
  EXPECT_EQ(Bgerase("remove '" + in + "' -o '" + (dir_ / "b.png").string() + "'" + flags).exit_code,
            0);

  // Flip one byte in place: same size, new mtime -> hashed again, refused.
  struct stat before {};
  ASSERT_EQ(stat((models / name).c_str(), &before), 0);
  {
    std::fstream f(models / name, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(4096);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(4096);
    f.write(&c, 1);
  }
  const CliRun refused =
      Bgerase("remove '" + in + "' -o '" + (dir_ / "c.png").string() + "'" + flags);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_ / "c.png"));
  // Even with the old mtime put back, the full check catches it.
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, (models / name).c_str(), times, 0), 0);
  EXPECT_NE(Bgerase("models verify --model-dir '" + models.string() + "'").exit_code, 0);
}

TEST_F(RemoveCli, NeverOverwritesItsInputAndRejectsBadUsage) {
  const fs::path in = dir_ / "in" / "coffee.png";
  const std::string original = ReadFile(imaging::testing::kSkimage + "coffee.png");
  WriteFile(in, original);
  EXPECT_EQ(Bgerase("remove '" + in.string() + "' -o '" + in.string() + "'").exit_code, 1);
  EXPECT_EQ(ReadFile(in.string()), original);
  EXPECT_EQ(Bgerase("remove '" + in.string() + "' '" + in.string() + "' -o x.png").exit_code, 2);
  EXPECT_EQ(Bgerase("remove '" + in.string() + "' --bg-color notacolour").exit_code, 2);
  EXPECT_EQ(Bgerase("remove '" + (dir_ / "missing.png").string() + "'").exit_code, 2);
  // Over 30 MB is refused before decoding, from a file and from a pipe.
  const fs::path big = dir_ / "in" / "big.png";
  WriteFile(big, std::string(31'000'000, '\0'));
  const CliRun too_big =
      Bgerase("remove '" + big.string() + "' -o '" + (dir_ / "b.png").string() + "' --json");
  EXPECT_EQ(too_big.exit_code, 1);
  EXPECT_NE(too_big.out.find("payload_too_large"), std::string::npos) << too_big.out;
  const CliRun piped =
      Bgerase("remove - -o '" + (dir_ / "p.png").string() + "' --json < '" + big.string() + "'");
  EXPECT_EQ(piped.exit_code, 1);
  EXPECT_NE(piped.out.find("payload_too_large"), std::string::npos) << piped.out;
  fs::remove(big);
  // With neither -o nor --out-dir the cutout lands beside the input.
  ASSERT_EQ(Bgerase("remove '" + in.string() + "'").exit_code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "in" / "coffee.cutout.png"));
}

TEST_F(RemoveCli, AFolderOfLinksToPhotosElsewhereNeverTouchesThePhotos) {
  // in/links/*.png are symbolic links to photos in src/; --out-dir does not exist yet. Every
  // cut-out lands in the out folder under the link's name, and the photos stay as they were
  // (the output's path once went through "../src/", over the first photo).
  fs::create_directories(dir_ / "src");
  fs::create_directories(dir_ / "in" / "links");
  std::map<std::string, std::string> originals;
  for (const std::string name : {"astronaut.png", "coffee.png"}) {
    originals[name] = ReadFile(imaging::testing::kSkimage + name);
    WriteFile(dir_ / "src" / name, originals[name]);
    fs::create_symlink(dir_ / "src" / name, dir_ / "in" / "links" / name);
  }
  const fs::path out = dir_ / "out" / "new";
  EXPECT_EQ(Bgerase("remove '" + (dir_ / "in" / "links").string() + "' --out-dir '" + out.string() +
                    "' --format png --quality-mode fast")
                .exit_code,
            0);
  for (const auto& [name, bytes] : originals) {
    EXPECT_TRUE(ReadFile((dir_ / "src" / name).string()) == bytes) << name << " was overwritten";
    EXPECT_TRUE(fs::is_regular_file(out / name)) << name;
  }
  // An output path that leads back to the input through a folder not made yet is refused.
  const fs::path back = dir_ / "made" / ".." / "src" / "coffee.png";
  EXPECT_EQ(Bgerase("remove '" + (dir_ / "src" / "coffee.png").string() + "' -o '" + back.string() +
                    "' --quality-mode fast")
                .exit_code,
            1);
  EXPECT_TRUE(ReadFile((dir_ / "src" / "coffee.png").string()) == originals["coffee.png"]);
}

TEST_F(RemoveCli, BackgroundImageCoversTheOutputAndIsRefusedWithAColour) {
  const fs::path in = dir_ / "in" / "astronaut.png", bg = dir_ / "in" / "coffee.png";
  WriteFile(in, ReadFile(imaging::testing::kSkimage + "astronaut.png"));
  WriteFile(bg, ReadFile(imaging::testing::kSkimage + "coffee.png"));
  const fs::path out = dir_ / "on-coffee.png";
  ASSERT_EQ(Bgerase("remove '" + in.string() + "' -o '" + out.string() + "' --bg-image '" +
                    bg.string() + "' --scale 50% --shadow drop")
                .exit_code,
            0);
  const VImage on = Load(ReadFile(out.string()));
  EXPECT_EQ(on.bands(), 3) << "opaque: the picture is everywhere the subject is not";
  EXPECT_EQ(on.width(), 512);
  // The corners are the coffee photo's (a brown table), not black or white.
  const VImage corner = on.extract_area(0, 0, 40, 40);
  EXPECT_GT(corner[0].avg(), corner[2].avg() + 20) << "brown, not grey";
  EXPECT_EQ(Bgerase("remove '" + in.string() + "' -o '" + (dir_ / "x.png").string() +
                    "' --bg-image '" + bg.string() + "' --bg-color white")
                .exit_code,
            2);
  EXPECT_EQ(Bgerase("remove '" + in.string() + "' -o '" + (dir_ / "y.png").string() +
                    "' --bg-image '" + (dir_ / "missing.png").string() + "'")
                .exit_code,
            2);
  EXPECT_FALSE(fs::exists(dir_ / "x.png"));
  EXPECT_FALSE(fs::exists(dir_ / "y.png"));
}

TEST_F(RemoveCli, QualityModesShareTheMaskOrAverageTheMirror) {
  // chelsea: a tabby cat, whose fur makes a wide soft edge.
  const fs::path in = dir_ / "in" / "chelsea.png";
  WriteFile(in, ReadFile(imaging::testing::kSkimage + "chelsea.png"));
  std::map<std::string, VImage> out;
  for (const std::string mode : {"fast", "balanced", "unrefined", "best"}) {
    const fs::path o = dir_ / (mode + ".png");
    const std::string args =
        mode == "unrefined" ? "--quality-mode balanced --refine off" : "--quality-mode " + mode;
    ASSERT_EQ(Bgerase("remove '" + in.string() + "' -o '" + o.string() + "' " + args).exit_code, 0)
        << mode;
    out[mode] = Load(ReadFile(o.string())).cast(VIPS_FORMAT_INT);
    ASSERT_EQ(out[mode].bands(), 4);
  }
  const VImage fast = out["fast"], balanced = out["unrefined"], best = out["best"];
  const VImage fast_a = fast[3], balanced_a = balanced[3], best_a = best[3];
  // balanced re-estimates unsure alpha from the photo: it moves, the subject stays.
  const VImage refined_a = out["balanced"][3];
  EXPECT_GT((refined_a - fast_a).abs().avg(), 0.01) << "the refinement moved unsure alpha";
  {
    const VImage a = fast_a > 127, b = refined_a > 127;
    EXPECT_GT((a & b).avg() / std::max(1.0, (a | b).avg()), 0.95);
  }
  // With --refine off, balanced changes colours, never alpha; and only where alpha is soft.
  EXPECT_EQ((fast_a - balanced_a).abs().max(), 0);
  const VImage soft = (fast_a > 0) & (fast_a < 255);
  const VImage changed = ((fast.extract_band(0, VImage::option()->set("n", 3)) -
                           balanced.extract_band(0, VImage::option()->set("n", 3)))
                              .abs() > 0)
                             .bandor();
  const double soft_px = soft.avg() / 255 * soft.width() * soft.height();
  const double changed_px = changed.avg() / 255 * changed.width() * changed.height();
  EXPECT_GT(soft_px, 1000) << "the cat's fur gives a soft edge";
  EXPECT_GT(changed_px, soft_px * 0.5) << "most soft pixels get their own colour";
  EXPECT_EQ((changed & (soft == 0)).max(), 0) << "an opaque or clear pixel was recoloured";
  // best runs the mirrored photo too: its alpha differs a little, the subject is the same.
  const double moved = (best_a - balanced_a).abs().avg();
  EXPECT_GT(moved, 0.01) << "the mirror's mask was averaged in";
  const VImage a = balanced_a > 127, b = best_a > 127;
  const double iou = (a & b).avg() / std::max(1.0, (a | b).avg());
  EXPECT_GT(iou, 0.95);
  // And an unknown mode is refused before any work, with nothing written.
  EXPECT_EQ(Bgerase("remove '" + in.string() + "' -o '" + (dir_ / "z.png").string() +
                    "' --quality-mode high")
                .exit_code,
            2);
  EXPECT_FALSE(fs::exists(dir_ / "z.png"));
}

}  // namespace
}  // namespace bgerase::e2e
