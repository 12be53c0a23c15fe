// What remove.bg's compositing options cost: one photo (enlarged or shrunk to MP megapixels,
// default 12) is decoded and inferred once with the real model, then Pipeline::Render runs with
// each option set, the sets taking turns (RUNS rounds, default 5; best and median). Each row gives
// its render time, what it adds to the plain opaque cut-out (bg_color white, jpg: the same encoder
// and output size), and that extra as a share of the whole request (decode + inference + that
// render). A measurement, not a test.
//   render_bench PHOTO BACKGROUND [MP [RUNS [ONLY]]]   (ONLY: rows whose name contains it, and
//   the reference)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>
#include <vips/vips8>

#include "imaging/imaging.h"
#include "removal/pipeline.h"

using namespace bgerase;

namespace {

std::string ReadAll(const char* path) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "cannot read %s\n", path);
    std::exit(2);
  }
  std::string s;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  std::fclose(f);
  return s;
}

// The photo as a JPEG of about `mp` megapixels (its aspect ratio kept).
std::string AtMegapixels(const std::string& bytes, double mp) {
  vips::VImage im = vips::VImage::new_from_buffer(bytes, "");
  const double k = std::sqrt(mp * 1e6 / (static_cast<double>(im.width()) * im.height()));
  im = im.resize(k);
  void* out = nullptr;
  size_t n = 0;
  vips_image_write_to_buffer(im.get_image(), ".jpg", &out, &n, "Q", 92, nullptr);
  std::string s(static_cast<const char*>(out), n);
  g_free(out);
  return s;
}

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: render_bench PHOTO BACKGROUND [MP [RUNS]]\n");
    return 2;
  }
  const double mp = argc > 3 ? std::atof(argv[3]) : 12;
  const int runs = argc > 4 ? std::max(1, std::atoi(argv[4])) : 5;
  const std::string only = argc > 5 ? argv[5] : "";
  if (VIPS_INIT(argv[0])) return 1;
  const std::string photo = AtMegapixels(ReadAll(argv[1]), mp);
  auto background = std::make_shared<const std::string>(ReadAll(argv[2]));

  auto pipeline = removal::Pipeline::Create({});
  if (!pipeline.ok()) {
    std::fprintf(stderr, "%s\n", pipeline.status().ToString().c_str());
    return 1;
  }
  std::vector<double> decode, infer;
  std::optional<removal::InferredImage> inferred;
  for (int i = 0; i < 3; ++i) {
    auto prepared = (*pipeline)->Prepare(photo);
    if (!prepared.ok()) return 1;
    decode.push_back(prepared->decode_ms);
    auto done =
        (*pipeline)->Infer(std::move(prepared).value(), removal::RemovalOptions{});  // one pass
    if (!done.ok()) return 1;
    infer.push_back(done->inference_ms);
    inferred = std::move(done).value();
  }
  const double decode_ms = Median(decode), infer_ms = Median(infer);
  std::printf("photo %dx%d (%.1f MP JPEG), background %s, precision %s\n",
              inferred->prepared.image.width, inferred->prepared.image.height, mp, argv[2],
              engine::PrecisionName((*pipeline)->precision()));
  std::printf("decode %.0f ms, inference %.0f ms (medians of 3); renders: best of %d\n", decode_ms,
              infer_ms, runs);
  {
    const auto t0 = std::chrono::steady_clock::now();
    auto bg = imaging::Decode(*background);
    if (!bg.ok()) return 1;
    std::printf("background %dx%d, decoded in %.0f ms\n\n", bg->width, bg->height, MsSince(t0));
  }

  struct Case {
    const char* name;
    removal::OptionFields fields;
    bool bg_image;
  };
  const std::vector<Case> cases = {
      {"bg_color white, jpg (reference)", {{"bg_color", "white"}, {"format", "jpg"}}, false},
      {"transparent png", {}, false},
      {"bg_image, jpg", {{"format", "jpg"}}, true},
      {"add_shadow drop, bg_color white, jpg",
       {{"add_shadow", "true"}, {"bg_color", "white"}, {"format", "jpg"}},
       false},
      {"bg_image + add_shadow drop, jpg", {{"add_shadow", "true"}, {"format", "jpg"}}, true},
      {"bg_image + add_shadow car, jpg",
       {{"add_shadow", "true"}, {"shadow_type", "car"}, {"format", "jpg"}},
       true},
      {"add_shadow drop, transparent png", {{"add_shadow", "true"}}, false},
      {"scale 90%, bg_color white, jpg",
       {{"scale", "90%"}, {"bg_color", "white"}, {"format", "jpg"}},
       false},
      // quality_mode: the rows above are fast (the model's mask and the photo's colours);
      // balanced adds the subject's colour under soft alpha (best adds a second inference).
      {"quality_mode balanced, bg_color white, jpg",
       {{"quality_mode", "balanced"}, {"bg_color", "white"}, {"format", "jpg"}},
       false},
      {"quality_mode balanced, transparent png", {{"quality_mode", "balanced"}}, false},
  };
  // The cases take turns, run after run, so a slow spell of the machine falls on all of them.
  std::vector<const Case*> chosen;
  std::vector<removal::RemovalOptions> options;
  for (const Case& c : cases) {
    if (!only.empty() && !chosen.empty() && std::string(c.name).find(only) == std::string::npos)
      continue;
    auto parsed = removal::ParseRemovalOptions(c.fields);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s\n", parsed.status().ToString().c_str());
      return 1;
    }
    if (c.bg_image) parsed->bg_image = background;
    const bool mode_given = std::any_of(c.fields.begin(), c.fields.end(),
                                        [](const auto& f) { return f.first == "quality_mode"; });
    if (!mode_given) parsed->quality_mode = removal::RemovalOptions::QualityMode::kFast;
    chosen.push_back(&c);
    options.push_back(std::move(parsed).value());
  }
  std::vector<std::vector<double>> ms(chosen.size());
  for (int i = 0; i < runs; ++i) {
    for (size_t k = 0; k < chosen.size(); ++k) {
      removal::InferredImage copy = *inferred;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = removal::Pipeline::Render(std::move(copy), options[k]);
      ms[k].push_back(MsSince(t0));
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", chosen[k]->name, r.status().ToString().c_str());
        return 1;
      }
    }
  }
  std::printf(
      "| options | render ms (best) | median | + vs reference (best) | share of the request |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  const double reference = *std::min_element(ms[0].begin(), ms[0].end());
  for (size_t k = 0; k < chosen.size(); ++k) {
    const double m = *std::min_element(ms[k].begin(), ms[k].end());
    const double extra = m - reference;
    std::printf("| %s | %.0f | %.0f | %+.0f | %.1f %% |\n", chosen[k]->name, m, Median(ms[k]),
                extra, 100.0 * extra / (decode_ms + infer_ms + m));
  }
  return 0;
}
