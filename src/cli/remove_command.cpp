// `bgerase remove IN... [-o OUT | --out-dir DIR] [options]`: files, folders (recursive) or `-`.
// A batch keeps going past a bad file, shows progress on a terminal, and ends with a summary;
// the exit code is 1 when any file failed. Decoding of the next image overlaps the current one.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "common/image_formats.h"
#include "common/text.h"
#include "removal/pipeline.h"

namespace bgerase::cli {
namespace {
namespace fs = std::filesystem;

struct RemoveArgs {
  std::vector<std::string> inputs;
  std::string output, out_dir, model_dir;
  std::string format, channels, size, crop_margin, roi, scale, position, shadow, shadow_opacity,
      bg_color, bg_image, metadata, quality, quality_mode, refine, precision = "auto";
  bool crop = false, despill = false, json = false;
  int threads = 0;
};

struct Job {
  std::string input;   // path, or "-" for stdin
  std::string output;  // path, or "-" for stdout
};

std::string Extension(const removal::RemovalOptions& o) {
  if (o.channels == removal::Channels::kAlpha) return ".png";
  return "." + std::string(InfoOf(o.format).extension);
}

bool LooksLikeImage(const fs::path& p) {
  std::string ext = p.extension().string();
  if (ext.empty()) return false;
  return FormatBySuffix(Lower(std::string_view(ext).substr(1))) != nullptr &&
         p.stem().string().find(".cutout") == std::string::npos;
}

// Expands inputs to jobs. Errors (missing paths, -o with several inputs) are usage errors.
Result<std::vector<Job>> PlanJobs(const RemoveArgs& a, const removal::RemovalOptions& o) {
  std::vector<Job> jobs;
  const std::string ext = Extension(o);
  for (const auto& in : a.inputs) {
    if (in == "-") {
      jobs.push_back({"-", a.output.empty() ? "-" : a.output});
      continue;
    }
    std::error_code ec;
    const fs::path p(in);
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(p, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && LooksLikeImage(it->path())) files.push_back(it->path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        fs::path out;
        if (!a.out_dir.empty()) {
          // Lexically: fs::relative resolves symbolic links, and a folder of links to photos
          // elsewhere would put "../elsewhere/photo.png" under --out-dir, over the photo itself.
          out = fs::path(a.out_dir) / f.lexically_relative(p);
          out.replace_extension(ext);
        } else {
          out = f.parent_path() / (f.stem().string() + ".cutout" + ext);
        }
        jobs.push_back({f.string(), out.string()});
      }
      continue;
    }
    if (!fs::exists(p, ec)) return Status("bad_request", "no such file or folder: " + in);
    fs::path out;
    if (!a.output.empty()) {
      out = a.output;
    } else if (!a.out_dir.empty()) {
      out = fs::path(a.out_dir) / (p.stem().string() + ext);
    } else {
      out = p.parent_path() / (p.stem().string() + ".cutout" + ext);
    }
    jobs.push_back({in, out.string()});
  }
  if (!a.output.empty() && jobs.size() != 1) {
    return Status("bad_request",
                  "-o names the output of a single input; use --out-dir for several");
  }
  return jobs;
}

Result<std::string> ReadInput(const std::string& path, size_t max_bytes) {
  if (path == "-") {  // read at most one byte past the cap, so a huge stream is refused early
    std::string s;
    char buf[1 << 16];
    while (s.size() <= max_bytes && std::cin.read(buf, sizeof buf).gcount() > 0) {
      s.append(buf, static_cast<size_t>(std::cin.gcount()));
    }
    if (s.size() > max_bytes) {
      return Status("payload_too_large", "standard input holds more than the " +
                                             std::to_string(max_bytes / 1000000) + " MB limit");
    }
    return s;
  }
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return Status("bad_request", "cannot read " + path + ": " + ec.message());
  if (size > max_bytes) {
    return Status("payload_too_large", "the file is " + std::to_string(size / 1000000) +
                                           " MB; the limit is " +
                                           std::to_string(max_bytes / 1000000) + " MB");
  }
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) return Status("bad_request", "cannot read " + path);
  return s;
}

Status WriteOutput(const std::string& path, const std::string& bytes, const std::string& input) {
  if (path == "-") {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
    return Status::Ok();
  }
  std::error_code ec;
  const fs::path p(path);
  // The folder first: until it exists a path through it cannot be resolved, and the check
  // below would pass for a path that, once the folder is made, names the input.
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  if (input != "-" && fs::exists(path, ec) && fs::equivalent(path, input, ec)) {
    return Status("bad_request", "refusing to overwrite the input " + input);
  }
  const std::string tmp = path + ".part";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return Status("io_error", "cannot write " + path);
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status("io_error", "cannot write " + path + ": " + ec.message());
  return Status::Ok();
}

class Progress {
 public:
  Progress(size_t total, bool tty)
      : total_(total), tty_(tty), start_(std::chrono::steady_clock::now()) {}
  void Update(size_t done, const std::string& name) {
    if (!tty_ || total_ < 2) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = s > 0 ? done / s : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    const int width = 24, fill = static_cast<int>(width * done / total_);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %.2f img/s ETA %d:%02d %-30.30s",
                 std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(), done,
                 total_, rate, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60,
                 name.c_str());
    if (done == total_) std::fprintf(stderr, "\n");
  }

 private:
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

int Remove(const RemoveArgs& a) {
  removal::OptionFields fields;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) fields.push_back({k, v});
  };
  add("format", a.format);
  add("channels", a.channels);
  add("size", a.size);
  add("crop_margin", a.crop_margin);
  add("roi", a.roi);
  add("scale", a.scale);
  add("position", a.position);
  if (!a.shadow.empty()) {
    fields.push_back({"add_shadow", "true"});
    fields.push_back({"shadow_type", a.shadow});
  }
  add("shadow_opacity", a.shadow_opacity);
  add("bg_color", a.bg_color);
  add("metadata", a.metadata);
  add("quality", a.quality);
  add("quality_mode", a.quality_mode);
  add("refine", a.refine);
  if (a.crop) fields.push_back({"crop", "true"});
  if (a.despill) fields.push_back({"despill", "true"});
  std::vector<removal::FieldError> details;
  auto options = removal::ParseRemovalOptions(fields, &details);
  if (!options.ok()) {
    std::fprintf(stderr, "error: %s\n", options.status().ToString().c_str());
    for (const auto& d : details)
      std::fprintf(stderr, "  --%s %s: %s\n", d.field.c_str(), d.input.c_str(), d.message.c_str());
    return 2;
  }
  if (!a.bg_image.empty()) {
    if (options->bg_color) {
      std::fprintf(stderr, "error: --bg-color and --bg-image are mutually exclusive\n");
      return 2;
    }
    if (a.bg_image == "-") {
      std::fprintf(stderr, "error: --bg-image must be a file (- is for the input)\n");
      return 2;
    }
    auto bytes = ReadInput(a.bg_image, kMaxImageBytes);
    if (!bytes.ok()) {
      std::fprintf(stderr, "error: --bg-image: %s\n", bytes.status().ToString().c_str());
      return 2;
    }
    options->bg_image = std::make_shared<const std::string>(std::move(bytes).value());
  }
  auto precision = engine::ParsePrecision(a.precision);
  if (!precision.ok()) {
    std::fprintf(stderr, "error: %s\n", precision.status().ToString().c_str());
    return 2;
  }
  auto jobs = PlanJobs(a, *options);
  if (!jobs.ok()) {
    std::fprintf(stderr, "error: %s\n", jobs.status().ToString().c_str());
    return 2;
  }
  if (jobs->empty()) {
    std::fprintf(stderr, "error: no images found in the given inputs\n");
    return 2;
  }
  removal::PipelineConfig config;
  config.model_dir = a.model_dir;
  config.precision = *precision;
  config.threads = a.threads;
  if (Status st = imaging::InitVips(); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
    return 1;
  }
  auto prepare = [&](size_t i) {
    return std::async(std::launch::async, [&, i]() -> Result<removal::PreparedImage> {
      auto bytes = ReadInput((*jobs)[i].input, config.limits.max_bytes);
      if (!bytes.ok()) return bytes.status();
      return removal::Pipeline::Prepare(*bytes, config.limits);
    });
  };
  // The first photo decodes while the model loads (a one-photo run's cold start).
  auto next = prepare(0);
  auto pipeline = removal::Pipeline::Create(config);
  if (!pipeline.ok()) {
    std::fprintf(stderr, "error: %s\n", pipeline.status().ToString().c_str());
    next.wait();
    return 1;
  }
  const bool tty = isatty(STDERR_FILENO) && !a.json;
  Progress progress(jobs->size(), tty);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, Status>> failures;
  // Three stages in flight: decode image i+1, infer image i, render + write image i-1.
  struct Done {
    size_t index;
    Result<removal::RemovalResult> result;
    Status written;
    double ms;
  };
  auto report = [&](Done d) {
    const Job& job = (*jobs)[d.index];
    const Status st = d.result.ok() ? d.written : d.result.status();
    if (a.json) {
      nlohmann::json j{{"input", job.input}};
      if (st.ok()) {
        j["output"] = job.output;
        j["width"] = d.result->width;
        j["height"] = d.result->height;
        j["foreground"] = {{"left", d.result->foreground.left},
                           {"top", d.result->foreground.top},
                           {"width", d.result->foreground.width},
                           {"height", d.result->foreground.height}};
        j["ms"] = std::round(d.ms * 10) / 10;
      } else {
        j["error"] = {{"code", st.code()}, {"message", st.message()}};
      }
      std::string line = j.dump() + "\n";
      std::fwrite(line.data(), 1, line.size(), job.output == "-" ? stderr : stdout);
      std::fflush(job.output == "-" ? stderr : stdout);
    } else if (!tty && job.output != "-") {
      if (st.ok()) {
        std::fprintf(stderr, "ok    %s -> %s (%dx%d, %.0f ms)\n", job.input.c_str(),
                     job.output.c_str(), d.result->width, d.result->height, d.ms);
      } else {
        std::fprintf(stderr, "fail  %s: %s\n", job.input.c_str(), st.ToString().c_str());
      }
    }
    if (!st.ok()) failures.push_back({job.input, st});
    progress.Update(d.index + 1, job.input);
  };
  std::future<Done> rendering;
  for (size_t i = 0; i < jobs->size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto prepared = next.get();
    if (i + 1 < jobs->size()) next = prepare(i + 1);
    Result<removal::InferredImage> inferred =
        prepared.ok() ? (*pipeline)->Infer(std::move(prepared).value(), *options)
                      : Result<removal::InferredImage>(prepared.status());
    if (rendering.valid()) report(rendering.get());
    rendering = std::async(std::launch::async, [&, i, t0,
                                                inferred = std::move(inferred)]() mutable {
      Done d{i,
             Result<removal::RemovalResult>(inferred.ok() ? Status("internal", "not rendered")
                                                          : inferred.status()),
             Status::Ok(), 0};
      if (inferred.ok()) d.result = (*pipeline)->Render(std::move(inferred).value(), *options);
      if (d.result.ok())
        d.written = WriteOutput((*jobs)[i].output, d.result->bytes, (*jobs)[i].input);
      d.ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      return d;
    });
  }
  if (rendering.valid()) report(rendering.get());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (jobs->size() > 1 || !failures.empty()) {
    std::fprintf(stderr, "%zu processed, %zu failed, %.1f s\n", jobs->size() - failures.size(),
                 failures.size(), secs);
    if (tty) {
      for (const auto& [in, st] : failures)
        std::fprintf(stderr, "  %s: %s\n", in.c_str(), st.ToString().c_str());
    }
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace

void RegisterRemoveCommand(CLI::App& app) {
  static RemoveArgs a;
  auto* rm = app.add_subcommand("remove",
                                "Remove the background of images (files, folders, or - for stdin)");
  rm->add_option("IN", a.inputs, "Input files or folders; - reads stdin")->required();
  rm->add_option("-o,--output", a.output, "Output file for a single input (- for stdout)");
  rm->add_option("--out-dir", a.out_dir, "Write outputs here, mirroring input folders");
  rm->add_option("--format", a.format, "png (default) | jpg | webp | avif");
  rm->add_option("--channels", a.channels, "rgba (default) | alpha (a mask PNG)");
  rm->add_option("--size", a.size, "preview | medium | hd | full (default) | auto");
  rm->add_flag("--crop", a.crop, "Crop to the subject");
  rm->add_option("--crop-margin", a.crop_margin,
                 "Margin around the subject when cropping: px or %, 1, 2 or 4 values (CSS order)");
  rm->add_option("--roi", a.roi,
                 "Only this region may hold the subject: \"x1 y1 x2 y2\" in px or %");
  rm->add_option("--scale", a.scale,
                 "Resize the subject to fit this share of the image: 10%..100% | original");
  rm->add_option("--position", a.position,
                 "Place the subject: original | center | \"x% y%\" (centred when scaled)");
  rm->add_option("--shadow", a.shadow, "Add a shadow under the subject: drop | car | 3D");
  rm->add_option("--shadow-opacity", a.shadow_opacity, "Shadow strength, 0-100 (default 50)");
  rm->add_option("--bg-color", a.bg_color, "Background colour: name, #rgb, #rrggbb, #rrggbbaa");
  rm->add_option("--bg-image", a.bg_image,
                 "Background image file, scaled to cover the output and centred");
  rm->add_flag("--despill", a.despill, "Remove background colour spill from edges");
  rm->add_option("--metadata", a.metadata, "keep (default) | strip");
  rm->add_option("--quality", a.quality, "1-100 for jpg/webp/avif");
  rm->add_option("--quality-mode", a.quality_mode,
                 "fast (the model alone) | balanced (default: + unsure alpha re-estimated from "
                 "the photo, and the subject's own edge colours) | best (+ the mirrored photo's "
                 "mask averaged in)");
  rm->add_option("--refine", a.refine,
                 "on (default) | off: re-estimate unsure alpha in balanced and best");
  rm->add_option("--precision", a.precision, "auto (default) | fp32 | bf16 | int8");
  rm->add_option("--threads", a.threads, "Inference threads (default: all cores)");
  rm->add_flag("--json", a.json, "One JSON line per image on stdout");
  rm->add_option("--model-dir", a.model_dir, "Model folder");
  rm->callback([] { ExitCode() = Remove(a); });
}

}  // namespace bgerase::cli
