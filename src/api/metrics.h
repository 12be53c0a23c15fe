// Metrics for GET /metrics, in the Prometheus text exposition format (written here: no client
// library is packaged). Counters by route and status, latency and inference-time histograms;
// gauges (queue depth, objects deleted) are passed in when rendering.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace bgerase::api {

// Thread-safe.
class Metrics {
 public:
  // One answered request. `route` is the matched pattern (e.g. "/v2"), never the raw path, so
  // label values stay bounded.
  void RecordRequest(const std::string& route, int status, double seconds);
  void RecordInference(double seconds);
  void RecordStored(const std::string& purpose, std::uint64_t objects);

  struct Gauges {
    std::size_t queue_waiting = 0, queue_running = 0, workers = 0, max_queue = 0;
    bool ready = false;
    std::map<std::string, std::uint64_t> deleted_by_reason;
  };
  std::string Render(const Gauges& gauges) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,    2.5,   5,    10,  30,   60};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
    void Observe(double v);
  };
  static void RenderHistogram(std::string& out, const std::string& name, const std::string& labels,
                              const Histogram& h);

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;  // by route
  Histogram inference_;
  std::map<std::string, std::uint64_t> stored_;  // by purpose
};

}  // namespace bgerase::api
