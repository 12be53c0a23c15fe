// Prometheus text format 0.0.4: HELP/TYPE lines, cumulative `le` buckets, _sum and _count.
#include "api/metrics.h"

#include <cstdio>

namespace bgerase::api {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// One gauge with its HELP and TYPE lines.
void Gauge(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += std::string("# HELP ") + name + " " + help + "\n";
  out += std::string("# TYPE ") + name + " gauge\n";
  out += std::string(name) + " " + std::to_string(value) + "\n";
}

}  // namespace

void Metrics::Histogram::Observe(double v) {
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (v <= kBuckets[i]) ++buckets[i];
  ++count;
  sum += v;
}

void Metrics::RecordRequest(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  latency_[route].Observe(seconds);
}

void Metrics::RecordInference(double seconds) {
  std::lock_guard lock(mu_);
  inference_.Observe(seconds);
}

void Metrics::RecordStored(const std::string& purpose, std::uint64_t objects) {
  std::lock_guard lock(mu_);
  stored_[purpose] += objects;
}

void Metrics::RenderHistogram(std::string& out, const std::string& name, const std::string& labels,
                              const Histogram& h) {
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    out += name + "_bucket{" + labels + sep + "le=\"" + Num(kBuckets[i]) + "\"} " +
           std::to_string(h.buckets[i]) + "\n";
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + Num(h.sum) + "\n";
  out += name + "_count" + braces + " " + std::to_string(h.count) + "\n";
}

std::string Metrics::Render(const Gauges& g) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP bgerase_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE bgerase_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += "bgerase_http_requests_total{route=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  out += "# HELP bgerase_http_request_duration_seconds Time from request to answer, by route.\n";
  out += "# TYPE bgerase_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_)
    RenderHistogram(out, "bgerase_http_request_duration_seconds", "route=\"" + route + "\"", h);
  out += "# HELP bgerase_inference_duration_seconds Time of one removal on a worker.\n";
  out += "# TYPE bgerase_inference_duration_seconds histogram\n";
  RenderHistogram(out, "bgerase_inference_duration_seconds", "", inference_);
  Gauge(out, "bgerase_queue_waiting", "Requests waiting for an inference worker.", g.queue_waiting);
  Gauge(out, "bgerase_queue_running", "Requests on an inference worker now.", g.queue_running);
  Gauge(out, "bgerase_queue_capacity", "Most requests that may wait for a worker.", g.max_queue);
  Gauge(out, "bgerase_workers", "Inference workers.", g.workers);
  Gauge(out, "bgerase_ready", "1 once the model is loaded and the start-up purge has run.",
        g.ready ? 1 : 0);
  out += "# HELP bgerase_objects_stored_total Objects stored by this process, by purpose.\n";
  out += "# TYPE bgerase_objects_stored_total counter\n";
  for (const auto& [purpose, n] : stored_)
    out += "bgerase_objects_stored_total{purpose=\"" + purpose + "\"} " + std::to_string(n) + "\n";
  out +=
      "# HELP bgerase_objects_deleted_total Objects deleted, by reason (from the deletion "
      "log).\n";
  out += "# TYPE bgerase_objects_deleted_total counter\n";
  for (const auto& [reason, n] : g.deleted_by_reason)
    out += "bgerase_objects_deleted_total{reason=\"" + reason + "\"} " + std::to_string(n) + "\n";
  return out;
}

}  // namespace bgerase::api
