// Compiling a specialised graph to oneDNN, and running it. Compile is the driver: every value
// gets a slot (onednn/lowering.h), each node's lowering from the op table (onednn/<op>.cpp)
// adds its steps, slot lifetimes over the step list decide arena offsets (greedy, largest
// first), then the primitives are made on every thread (the arena faulted in beside where a core
// is spare).
#include "engine/plan.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "engine/onednn/lowering.h"
#include "engine/op_table.h"

namespace bgerase::engine {

using dnnl::memory;
using onednn::Dims;
using onednn::Dt;
using onednn::Lowering;
using onednn::PlainTag;
using onednn::Slot;
using onednn::Step;

struct Plan::Impl {
  // The slots, steps, arena, weights and scratchpad the steps point into.
  Lowering L;
  std::vector<memory> user_in, user_out;  // the caller's tensors, bound by each Execute
  std::vector<Shape> in_shapes, out_shapes;
  std::map<size_t, Tensor> constant_outputs;  // graph outputs that folded to constants
  // Per observed value: its extremes and a histogram of its values by their float's top 12
  // bits (sign, exponent, 3 mantissa bits: 1/8-octave bins), for percentile ranges.
  struct Observation {
    float min = 0, max = 0;
    std::vector<uint64_t> hist = std::vector<uint64_t>(4096, 0);
    uint64_t count = 0;
  };
  std::map<std::string, Observation> observations;
};

namespace {

// The first steps: each float32 NCHW input, bound by Execute, reorders into its slot.
void AddInputSteps(Plan::Impl& P, const Graph& g) {
  Lowering& L = P.L;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const int s = L.slot_of.at(g.inputs[i]);
    P.in_shapes.push_back(L.slots[s].shape);
    L.pending.push_back({"input " + g.inputs[i], {}, {s}, [&P, &L, s, i](Step* st) {
                           memory::desc md(Dims(L.slots[s].shape), Dt::f32,
                                           PlainTag(L.slots[s].shape.size()));
                           P.user_in[i] = memory(md, L.eng, nullptr);
                           st->run = L.Reorder(P.user_in[i], L.Mem(s));
                         }});
  }
  P.user_in.resize(g.inputs.size());
}

// The last steps: each output slot reorders into a float32 NCHW tensor bound by Execute. An
// output that folded to a constant is kept as a tensor instead.
void AddOutputSteps(Plan::Impl& P, const Graph& g) {
  Lowering& L = P.L;
  P.user_out.resize(g.outputs.size());
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const std::string& o = g.outputs[i];
    if (g.IsConstant(o)) {
      P.constant_outputs[i] = g.initializers.at(o).CastTo(DType::kFloat32);
      P.out_shapes.push_back(g.initializers.at(o).shape());
      continue;
    }
    const int s = L.slot_of.at(o);
    P.out_shapes.push_back(L.slots[s].shape);
    L.pending.push_back({"output " + o, {s}, {}, [&P, &L, s, i](Step* st) {
                           memory::desc md(Dims(L.slots[s].shape), Dt::f32,
                                           PlainTag(L.slots[s].shape.size()));
                           P.user_out[i] = memory(md, L.eng, nullptr);
                           st->run = L.Reorder(L.Mem(s), P.user_out[i]);
                         }});
  }
}

// Liveness: each root slot lives from its first write to its last read; slots are placed
// largest first at the lowest offset free over their lifetime. Maps the arena.
Status PlaceArena(Lowering& L, size_t* arena_bytes) {
  for (size_t i = 0; i < L.pending.size(); ++i) {
    for (const auto* list : {&L.pending[i].reads, &L.pending[i].writes}) {
      for (int s : *list) {
        size_t off;
        Slot& r = L.slots[L.Root(s, &off)];
        r.first = std::min(r.first, static_cast<int>(i));
        r.last = std::max(r.last, static_cast<int>(i));
      }
    }
  }
  std::vector<int> roots;
  for (size_t i = 0; i < L.slots.size(); ++i) {
    if (L.slots[i].parent < 0 && L.slots[i].last >= 0) roots.push_back(static_cast<int>(i));
  }
  std::sort(roots.begin(), roots.end(), [&](int a, int b) {
    return L.slots[a].bytes != L.slots[b].bytes ? L.slots[a].bytes > L.slots[b].bytes : a < b;
  });
  std::vector<int> placed;
  size_t bytes = 0;
  for (int r : roots) {
    Slot& s = L.slots[r];
    std::vector<std::pair<size_t, size_t>> busy;
    for (int q : placed) {
      const Slot& o = L.slots[q];
      if (o.first <= s.last && s.first <= o.last) busy.push_back({o.offset, o.offset + o.bytes});
    }
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (const auto& [b, e] : busy) {
      if (off + s.bytes <= b) break;
      off = std::max(off, e);
    }
    s.offset = off;
    bytes = std::max(bytes, off + s.bytes);
    placed.push_back(r);
  }
  L.arena = static_cast<uint8_t*>(L.pages.Mapped(bytes));
  if (!L.arena)
    return Status("out_of_memory",
                  "cannot allocate " + std::to_string(bytes) + " bytes of activations");
  L.stats.arena_bytes = bytes;
  *arena_bytes = bytes;
  return Status::Ok();
}

// Makes the primitives Lowering::jit lists, on every core (oneDNN's primitive creation is
// thread-safe). A creation that throws leaves its primitive empty: the step makes it again when
// it is built, and reports the error there.
void MakePrimitivesAhead(Lowering& L) {
  const int n = static_cast<int>(L.jit.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; ++i) {
    try {
      L.jit[i]();
    } catch (...) {
    }
  }
  L.jit.clear();
}

// Builds every pending step's primitives over the arena, then the one scratchpad they share.
Status BuildSteps(Lowering& L) {
  MakePrimitivesAhead(L);
  L.steps.resize(L.pending.size());
  for (size_t i = 0; i < L.pending.size(); ++i) {
    L.steps[i].name = L.pending[i].name;
    L.steps[i].observe = L.pending[i].observe;
    L.steps[i].observe_value = L.pending[i].observe_value;
    try {
      L.pending[i].build(&L.steps[i]);
    } catch (const dnnl::error& e) {
      return Status("unsupported_op", L.pending[i].name + ": oneDNN cannot run it: " + e.what());
    } catch (const std::exception& e) {
      return Status("unsupported_op", L.pending[i].name + ": " + e.what());
    }
  }
  L.pending.clear();
  L.widen_buffer = {};
  L.quant_buffer = {};
  if (L.scratch_bytes > 0) {
    L.scratch = static_cast<uint8_t*>(L.pages.Allocate(L.scratch_bytes));
    if (!L.scratch)
      return Status("out_of_memory",
                    "cannot allocate " + std::to_string(L.scratch_bytes) + " bytes of scratchpad");
    for (memory& m : L.scratch_users) m.set_data_handle(L.scratch);
  }
  L.stats.scratchpad_bytes = L.scratch_bytes;
  return Status::Ok();
}

}  // namespace

Plan::Plan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::~Plan() = default;

Result<std::unique_ptr<Plan>> Plan::Compile(const Graph& g, const TypeMap& types,
                                            const Options& options) {
  const auto t_start = std::chrono::steady_clock::now();
  auto im = std::make_unique<Impl>();
  Lowering& L = im->L;
  L.graph = &g;
  L.types = &types;
  L.bf16 = options.precision == Precision::kBFloat16;
  L.int8 = options.precision == Precision::kInt8;
  L.calibration = options.calibration;
  L.weight_levels = static_cast<float>(Int8WeightLevels());
  L.observe = options.observe;
  L.block = L.int8 ? 1 : DetectCpu().isa.rfind("avx512", 0) == 0 ? 16 : 8;

  onednn::PlanU8Activations(L);
  for (const auto& in : g.inputs) L.SlotFor(in);
  for (const auto& n : g.nodes) {
    const OpDef* op = FindOp(n.op);
    if (!op || !op->lower) {  // fold-only ops are gone once the graph is specialised
      return Status("unsupported_op",
                    n.Describe() + ": '" + n.op + "' cannot run on an input-dependent value");
    }
    L.SlotFor(n.outputs[0]);
  }
  onednn::PlaceConcatsInPlace(L);

  // The step list, in execution order; primitives are built once the arena exists.
  AddInputSteps(*im, g);
  for (const auto& n : g.nodes) BGERASE_RETURN_IF_ERROR(FindOp(n.op)->lower(L, n));
  AddOutputSteps(*im, g);

  size_t arena_bytes = 0;
  BGERASE_RETURN_IF_ERROR(PlaceArena(L, &arena_bytes));
  // The arena's pages are faulted in beside the primitives' creation (which never touches them)
  // where a core is left over: the creation runs on every thread the plan has, and a prefault
  // competing with it cost more (~60 ms on 2 cores) than the first inference's own page faults
  // (~25 ms, 117 MB).
  std::optional<onednn::PrefaultThread> prefault;
  if (omp_get_max_threads() < omp_get_num_procs()) prefault.emplace(L.arena, arena_bytes);
  const auto t_build = std::chrono::steady_clock::now();
  BGERASE_RETURN_IF_ERROR(BuildSteps(L));
  if (std::getenv("BGERASE_PROFILE")) {  // lowering (weights included) vs primitive creation
    using ms = std::chrono::duration<double, std::milli>;
    std::fprintf(stderr, "plan: lower %.0f ms, build primitives %.0f ms\n",
                 ms(t_build - t_start).count(),
                 ms(std::chrono::steady_clock::now() - t_build).count());
  }
  L.graph = nullptr;
  L.types = nullptr;
  L.stats.steps = static_cast<int>(
      std::count_if(L.steps.begin(), L.steps.end(), [](const Step& s) { return bool(s.run); }));
  auto plan = std::unique_ptr<Plan>(new Plan(std::move(im)));
  plan->stats_ = plan->impl_->L.stats;
  return plan;
}

std::map<std::string, ValueRange> Plan::observed(double percentile) const {
  std::map<std::string, ValueRange> out;
  for (const auto& [value, o] : impl_->observations) {
    ValueRange r{o.min, o.max};
    // Non-negative values only: bins 0..2047 in increasing order; the range ends at the upper
    // edge of the bin holding the percentile (never past the true maximum).
    if (o.min >= 0 && percentile < 1.0) {
      const auto need = static_cast<uint64_t>(std::ceil(percentile * static_cast<double>(o.count)));
      uint64_t seen = 0;
      for (uint32_t b = 0; b < 2048; ++b) {
        seen += o.hist[b];
        if (seen >= need) {
          r.max = std::min(o.max, std::bit_cast<float>((b + 1) << 20));
          break;
        }
      }
    }
    out[value] = r;
  }
  return out;
}

Result<std::vector<Tensor>> Plan::Execute(const std::vector<Tensor>& inputs) {
  Impl& P = *impl_;
  Lowering& L = P.L;
  if (inputs.size() != P.in_shapes.size()) {
    return Status("shape_mismatch", "expected " + std::to_string(P.in_shapes.size()) + " inputs");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::kFloat32 || inputs[i].shape() != P.in_shapes[i]) {
      return Status("shape_mismatch", "input " + std::to_string(i) + " must be float32 " +
                                          ShapeToString(P.in_shapes[i]));
    }
    P.user_in[i].set_data_handle(const_cast<void*>(inputs[i].raw()));
  }
  std::vector<Tensor> outs;
  for (size_t i = 0; i < P.out_shapes.size(); ++i) {
    auto c = P.constant_outputs.find(i);
    outs.push_back(c != P.constant_outputs.end() ? c->second
                                                 : Tensor(DType::kFloat32, P.out_shapes[i]));
    if (c == P.constant_outputs.end()) P.user_out[i].set_data_handle(outs.back().raw());
  }
  // BGERASE_PROFILE=1: time every step (waiting after each) and print the slowest to stderr.
  static const bool profile = std::getenv("BGERASE_PROFILE") != nullptr;
  try {
    std::vector<std::pair<double, std::string>> times;
    for (auto& st : L.steps) {
      if (!st.run) continue;
      if (st.observe >= 0) {
        L.strm.wait();
        const float* v = static_cast<const float*>(L.Ptr(st.observe));
        const int64_t n = NumElements(L.slots[st.observe].shape);
        const auto [lo, hi] = std::minmax_element(v, v + n);
        auto [it, fresh] = P.observations.try_emplace(st.observe_value);
        Impl::Observation& o = it->second;
        o.min = fresh ? *lo : std::min(o.min, *lo);
        o.max = fresh ? *hi : std::max(o.max, *hi);
        for (int64_t i = 0; i < n; ++i) ++o.hist[std::bit_cast<uint32_t>(v[i]) >> 20];
        o.count += static_cast<uint64_t>(n);
      }
      const auto t0 = std::chrono::steady_clock::now();
      st.run(L.strm);
      if (profile) {
        L.strm.wait();
        times.push_back(
            {std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                 .count(),
             st.name});
      }
    }
    L.strm.wait();
    if (profile) {
      std::map<std::string, double> by_op;
      double total = 0;
      for (const auto& [ms, name] : times) {
        by_op[name.substr(0, name.find(' '))] += ms;
        total += ms;
      }
      std::fprintf(stderr, "profile: %.1f ms in %zu steps;", total, times.size());
      for (const auto& [op, ms] : by_op) std::fprintf(stderr, " %s %.1f", op.c_str(), ms);
      std::fprintf(stderr, "\n");
      if (std::string(std::getenv("BGERASE_PROFILE")) == "2") {  // and the 25 slowest steps
        std::sort(times.rbegin(), times.rend());
        for (size_t i = 0; i < std::min<size_t>(25, times.size()); ++i)
          std::fprintf(stderr, "  %7.2f ms  %s\n", times[i].first, times[i].second.c_str());
      }
    }
  } catch (const dnnl::error& e) {
    return Status("inference_failed", std::string("oneDNN: ") + e.what());
  }
  return outs;
}

}  // namespace bgerase::engine
