// Compiling a specialised graph to oneDNN. Activations live in one arena: each value gets a
// slot (shape, dtype, layout); concat inputs may alias a slice of their concat's slot; slot
// lifetimes over the step list decide arena offsets (greedy, largest first).
//
// Layout: 4-D activations whose channel count is a multiple of the block use nChw16c on AVX-512
// and nChw8c below (what oneDNN's convolutions want there, so no reorders between layers);
// everything else is plain. In bf16
// mode the nChw16c activations are bf16 and the plain ones (model input, 1-channel maps) f32.
#include "engine/plan.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "engine/op_params.h"
#include "engine/resize_kernel.h"

namespace bgerase::engine {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

constexpr size_t kAlign = 64;

struct Slot {
  std::string name;
  Shape shape;
  DType dt = DType::kFloat32;
  bool blocked = false;
  size_t bytes = 0;
  int parent = -1;  // slot this one is a slice of (in-place concat)
  size_t offset_in_parent = 0;
  int first = INT_MAX, last = -1;  // step interval, kept on root slots
  size_t offset = 0;               // arena offset of a root slot
};

struct Step {
  std::string name;
  std::function<void(dnnl::stream&)> run;
  int observe = -1;  // Options::observe: a float slot whose range is recorded before running
  std::string observe_value;
};

// One primitive with its arguments (the shared scratchpad included), ready to run.
struct Call {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  void operator()(dnnl::stream& s) const { prim.execute(s, args); }
};

struct PendingOp {
  std::string name;
  std::vector<int> reads, writes;
  std::function<void(Step*)> build;  // may throw dnnl::error or std::runtime_error
  int observe = -1;
  std::string observe_value;
};

memory::dims Dims(const Shape& s) {
  if (s.empty()) return {1};
  return memory::dims(s.begin(), s.end());
}

Tag PlainTag(size_t rank) {
  switch (rank) {
    case 0:
    case 1:
      return Tag::a;
    case 2:
      return Tag::ab;
    case 3:
      return Tag::abc;
    case 4:
      return Tag::abcd;
    case 5:
      return Tag::abcde;
    default:
      return Tag::undef;
  }
}

size_t AlignUp(size_t v, size_t align = kAlign) {
  return (v + align - 1) / align * align;
}

// Memory for a plan's lifetime, bump-allocated from 64 MB (or larger) anonymous mappings. A
// chunk's unused tail is never touched, so costs no RSS. (Transparent huge pages were tried for
// the arena: with the kernel's default defrag the first inference got slower, not faster.)
class PagePool {
 public:
  PagePool() = default;
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;
  ~PagePool() {
    for (const auto& [p, n] : chunks_) munmap(p, n);
    for (const auto& [p, n] : mapped_) munmap(p, n);
  }
  // `bytes` aligned to 4 KB (oneDNN wants 64); nullptr when the system refuses the memory.
  void* Allocate(size_t bytes) {
    bytes = AlignUp(std::max<size_t>(bytes, 1), 4096);
    if (chunks_.empty() || used_ + bytes > chunks_.back().second) {
      const size_t n = std::max(bytes, kChunk);
      void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return nullptr;
      chunks_.push_back({p, n});
      used_ = 0;
    }
    void* p = static_cast<uint8_t*>(chunks_.back().first) + used_;
    used_ += bytes;
    return p;
  }
  // A mapping of its own, for the arena: Compile faults its pages in on another thread while
  // it builds the primitives (on first touch by the first inference, one fault per 4 KB page
  // costs ~0.1 s of a cold start; the arena is 270-340 MB at 1024x1024).
  void* Mapped(size_t bytes) {
    bytes = AlignUp(std::max<size_t>(bytes, 1), 4096);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    mapped_.push_back({p, bytes});  // never bump-allocated from: Allocate uses chunks_ only
    return p;
  }

 private:
  static constexpr size_t kChunk = size_t{64} << 20;
  std::vector<std::pair<void*, size_t>> chunks_;  // bump-allocated; the last one is in use
  std::vector<std::pair<void*, size_t>> mapped_;  // Mapped's, one allocation each
  size_t used_ = 0;
};

// Faults in [p, p + n) on a thread of its own; joined when it goes out of scope.
class PrefaultThread {
 public:
  PrefaultThread(void* p, size_t n)
      : thread_([p, n] {
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif
          if (madvise(p, n, MADV_POPULATE_WRITE) == 0) return;
          auto* b = static_cast<volatile uint8_t*>(p);  // older kernels: touch each page
          for (size_t i = 0; i < n; i += 4096) b[i] = 0;
        }) {
  }
  ~PrefaultThread() {
    thread_.join();
  }

 private:
  std::thread thread_;
};

}  // namespace

struct Plan::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  bool bf16 = false;
  // int8: calibrated convolutions run u8s8, and every 4-D activation is nhwc (what oneDNN's
  // int8 kernels read and write; its f32 kernels run nhwc as fast as blocked).
  bool int8 = false;
  const Calibration* calibration = nullptr;
  float weight_levels = 127.f;
  std::map<std::string, int> quantized;  // value -> the slot of its u8/s8 copy
  bool observe = false;
  // Per observed value: its extremes and a histogram of its values by their float's top 12
  // bits (sign, exponent, 3 mantissa bits: 1/8-octave bins), for percentile ranges.
  struct Observation {
    float min = 0, max = 0;
    std::vector<uint64_t> hist = std::vector<uint64_t>(4096, 0);
    uint64_t count = 0;
  };
  std::map<std::string, Observation> observations;
  int64_t block = 16;  // channel block of the blocked layout: 16 on AVX-512, 8 below, 1 (nhwc)
  std::vector<Slot> slots;
  std::map<std::string, int> slot_of;
  std::vector<PendingOp> pending;
  std::vector<Step> steps;
  uint8_t* arena = nullptr;
  std::vector<memory> constants;  // weights, biases, constant operands: alive with the plan
  // Compile time only: one conv's widened and quantized weights (LowerConv, PrepareWeights).
  std::vector<float> widen_buffer;
  std::vector<int8_t> quant_buffer;
  std::vector<memory> user_in, user_out;
  std::vector<Shape> in_shapes, out_shapes;
  std::map<size_t, Tensor> constant_outputs;  // graph outputs that folded to constants
  // Every primitive uses one user-managed scratchpad, owned by the plan. oneDNN's default
  // (library mode) keeps a scratchpad per thread, sized when a primitive is created, so a
  // primitive created on one thread and run on another overruns it (the server builds plans
  // on its loader thread and runs them on workers). Steps run one at a time, so they share it.
  std::vector<memory> scratch_users;
  size_t scratch_bytes = 0;
  uint8_t* scratch = nullptr;

  // Arena (its own mapping, faulted in while the primitives are built), scratchpad and prepared
  // weights.
  PagePool pages;

  static dnnl::primitive_attr Attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }
  // `args` plus the plan's scratchpad when the primitive wants one (bound once it exists).
  Call Bind(dnnl::primitive prim, const memory::desc& scratchpad,
            std::unordered_map<int, memory> args) {
    if (scratchpad.get_size() > 0) {
      memory m(scratchpad, eng, DNNL_MEMORY_NONE);
      scratch_users.push_back(m);
      scratch_bytes = std::max(scratch_bytes, scratchpad.get_size());
      args[DNNL_ARG_SCRATCHPAD] = m;
    }
    return {std::move(prim), std::move(args)};
  }
  // dst = scale * src (converted; saturated and rounded to nearest for integer types).
  Call Reorder(const memory& src, const memory& dst, float scale = 1.f) {
    dnnl::primitive_attr attr = Attr();
    if (scale != 1.f) attr.set_output_scales(0, {scale});
    dnnl::reorder::primitive_desc pd(src, dst, attr);
    return Bind(dnnl::reorder(pd), pd.scratchpad_desc(),
                {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  }
  // A reorder run once, now, on this thread (weights and constants at compile time).
  void ReorderNow(const memory& src, const memory& dst) {
    dnnl::reorder::primitive_desc pd(src, dst, Attr());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    if (pd.scratchpad_desc().get_size() > 0)
      args[DNNL_ARG_SCRATCHPAD] = memory(pd.scratchpad_desc(), eng);
    dnnl::reorder(pd).execute(strm, args);
    strm.wait();
  }

  int AddSlot(const std::string& name, const Shape& shape, DType dt, bool blocked) {
    Slot s;
    s.name = name;
    s.shape = shape;
    s.dt = dt;
    s.blocked = blocked;
    int64_t elems = NumElements(shape);
    if (blocked) elems = elems / shape[1] * ((shape[1] + block - 1) / block * block);
    s.bytes = AlignUp(static_cast<size_t>(elems) * DTypeSize(dt));
    slots.push_back(s);
    slot_of[name] = static_cast<int>(slots.size() - 1);
    return static_cast<int>(slots.size() - 1);
  }
  int Root(int s, size_t* off) const {
    size_t o = 0;
    while (slots[s].parent >= 0) {
      o += slots[s].offset_in_parent;
      s = slots[s].parent;
    }
    *off = o;
    return s;
  }
  void* Ptr(int s) const {
    size_t o;
    const int r = Root(s, &o);
    return arena + slots[r].offset + o;
  }
  memory::desc Md(int s) const {
    const Slot& sl = slots[s];
    const Dt dt = sl.dt == DType::kBFloat16 ? Dt::bf16
                  : sl.dt == DType::kUInt8  ? Dt::u8
                  : sl.dt == DType::kInt8   ? Dt::s8
                                            : Dt::f32;
    const Tag blocked = int8 ? Tag::nhwc : block == 16 ? Tag::nChw16c : Tag::nChw8c;
    return memory::desc(Dims(sl.shape), dt, sl.blocked ? blocked : PlainTag(sl.shape.size()));
  }
  // The innermost run of channels in a slot's layout: [planes][H][W][block].
  int64_t BlockOf(int s) const {
    const Slot& sl = slots[s];
    if (!sl.blocked) return 1;
    return int8 ? sl.shape[1] : block;
  }
  // The calibrated range of conv `n`'s source slot `x` when it may run in int8: calibrated, not
  // kept in float by the calibration, ungrouped, and with enough input channels to gain (the
  // first conv's 3 channels make a dot product too short for int8 to pay).
  const ValueRange* Int8Range(const Node& n, int x) const {
    if (!int8 || !calibration || KeptFloat(n.name)) return nullptr;
    if (!slots[x].blocked || slots[x].dt != DType::kFloat32 || n.Int("group", 1) != 1 ||
        slots[x].shape[1] < 8)
      return nullptr;
    auto it = calibration->ranges.find(n.inputs[0]);
    if (it == calibration->ranges.end() || !(std::max(-it->second.min, it->second.max) > 0))
      return nullptr;
    // A signed source with 63-level weights (no VNNI) lost too much: the guard's worst image
    // went from mean |int8-fp32| 0.0054 to 0.0097 for one conv's 50 ms; with VNNI it costs 0.0001.
    if (!Unsigned(it->second) && weight_levels < 127) return nullptr;
    return &it->second;
  }
  // Listed by name, or under a listed prefix ending in '/' (a whole stage: "/stage1d/").
  bool KeptFloat(const std::string& node) const {
    for (const auto& f : calibration->float_nodes) {
      if (f == node || (!f.empty() && f.back() == '/' && node.rfind(f, 0) == 0)) return true;
    }
    return false;
  }
  // Sources that never go negative (ReLU outputs, nearly all) use u8 with all 256 levels;
  // signed ones s8, symmetric.
  static bool Unsigned(const ValueRange& r) { return r.min >= 0; }
  static float QuantScale(const ValueRange& r) {
    return Unsigned(r) ? 255.f / r.max : 127.f / std::max(-r.min, r.max);
  }
  // The int8 copy of `value` (float slot `x`) at `scale`, added with its quantize step on first
  // use.
  int Quantized(const std::string& value, int x, const ValueRange& r) {
    auto it = quantized.find(value);
    if (it != quantized.end()) return it->second;
    const float scale = QuantScale(r);
    const int q = AddSlot(value + (Unsigned(r) ? "#u8" : "#s8"), slots[x].shape,
                          Unsigned(r) ? DType::kUInt8 : DType::kInt8, true);
    pending.push_back({"quantize " + value, {x}, {q}, [this, x, q, scale](Step* st) {
                         st->run = Reorder(Mem(x), Mem(q), scale);
                       }});
    quantized[value] = q;
    return q;
  }
  memory Mem(int s) { return memory(Md(s), eng, Ptr(s)); }
  memory Constant(const Tensor& t, const memory::dims& dims, Tag tag, Dt dt = Dt::f32) {
    memory user(memory::desc(dims, Dt::f32, tag), eng);
    const std::vector<float> f = t.AsFloats();
    std::memcpy(user.get_data_handle(), f.data(), f.size() * 4);
    if (dt == Dt::f32) {
      constants.push_back(user);
      return user;
    }
    memory conv(memory::desc(dims, dt, tag), eng);
    ReorderNow(user, conv);
    constants.push_back(conv);
    return conv;
  }
};

namespace {

// One convolution's primitive and what it is built from. int8: s8 weights with a scale per
// output channel; the bias and output scales folded for a u8 source quantized at `src_scale`.
struct ConvLowering {
  dnnl::convolution_forward::primitive_desc pd;
  memory::desc weights_desc;  // of the weights: oihw (goihw when grouped), f32 or s8
  // The weights as `weights_desc` says, until PrepareWeights: the graph's own, or the plan's
  // widen or quantize buffer (valid until the next conv is lowered).
  void* weights = nullptr;
  memory prepared;          // the weights in the primitive's layout (PrepareWeights)
  std::vector<float> bias;  // empty: none
  bool is_ref = false;      // oneDNN found only its reference kernel
};

// `src_scale` > 0: int8 (src u8 at that scale); 0: the plan's float type.
ConvLowering LowerConv(Plan::Impl& P, const Node& n, const ConvParams& p, const memory::desc& src,
                       const memory::desc& dst, const Tensor& w, const Tensor* b,
                       const std::vector<int>& operands, float src_scale) {
  const bool quant = src_scale > 0;
  const int64_t OC = w.shape()[0], ICg = w.shape()[1];
  const memory::dims wd = p.group > 1 ? memory::dims{p.group, OC / p.group, ICg, p.kh, p.kw}
                                      : memory::dims{OC, ICg, p.kh, p.kw};
  ConvLowering lw;
  lw.weights_desc =
      memory::desc(wd, quant ? Dt::s8 : Dt::f32, p.group > 1 ? Tag::goihw : Tag::oihw);
  // float32 weights are read in place. The model's fp16 ones (kept so by the passes) are
  // widened here: into the plan's one reused buffer for a float conv, a row at a time for an
  // int8 one; its s8 weights go to the plan's reused buffer too. Fresh buffers per conv cost
  // ~0.1 s of page faults on a cold start.
  const bool half = w.dtype() == DType::kFloat16;
  const float* wf = w.dtype() == DType::kFloat32 ? w.data<float>() : nullptr;
  const size_t wn = static_cast<size_t>(w.size());
  if (!wf && !(half && quant)) {
    P.widen_buffer.resize(std::max(P.widen_buffer.size(), wn));
    if (half) {
      WidenHalves(w.data<uint16_t>(), P.widen_buffer.data(), wn);
    } else {
      const std::vector<float> f = w.AsFloats();
      std::copy(f.begin(), f.end(), P.widen_buffer.begin());
    }
    wf = P.widen_buffer.data();
  }
  if (b) lw.bias = b->AsFloats();
  dnnl::primitive_attr attr = Plan::Impl::Attr();
  if (quant) {
    // Symmetric per-channel weights; the accumulator is src*sx * w*ws, so each output channel
    // is scaled back by 1/(sx*ws) and its bias (added to the accumulator) forward by sx*ws.
    const int64_t per_oc = static_cast<int64_t>(wn) / OC;
    const float L = P.weight_levels;
    P.quant_buffer.resize(std::max(P.quant_buffer.size(), wn));
    int8_t* qw = P.quant_buffer.data();
    const uint16_t* wh = half ? w.data<uint16_t>() : nullptr;
    std::vector<float> out_scales(static_cast<size_t>(OC));
#pragma omp parallel
    {
      std::vector<float> row(wh ? static_cast<size_t>(per_oc) : 0);
#pragma omp for schedule(static)
      for (int64_t oc = 0; oc < OC; ++oc) {
        const float* src_w = wf ? wf + oc * per_oc : row.data();
        if (wh) WidenHalves(wh + oc * per_oc, row.data(), static_cast<size_t>(per_oc));
        int8_t* dst_w = qw + oc * per_oc;
        // |w|'s largest as the largest of its bits without the sign (the same order for finite
        // floats): an integer max, which vectorises without fast-math.
        uint32_t mbits = 0;
#pragma omp simd reduction(max : mbits)
        for (int64_t k = 0; k < per_oc; ++k)
          mbits = std::max(mbits, std::bit_cast<uint32_t>(src_w[k]) & 0x7fffffffu);
        const float m = std::bit_cast<float>(mbits);
        const float ws = m > 0 ? L / m : 1.f;
#pragma omp simd
        for (int64_t k = 0; k < per_oc; ++k) {  // round half away from zero
          const float t = std::clamp(src_w[k] * ws, -L, L);
          dst_w[k] = static_cast<int8_t>(static_cast<int32_t>(t + std::copysign(0.5f, t)));
        }
        out_scales[oc] = 1.f / (src_scale * ws);
        if (!lw.bias.empty()) lw.bias[oc] *= src_scale * ws;
      }
    }
    lw.weights = qw;
    attr.set_output_scales(1 << 1, out_scales);
  } else {
    lw.weights = const_cast<float*>(wf);
  }
  dnnl::post_ops po;
  size_t oi = 0;
  for (const auto& f : n.fused) {
    if (f.kind == FusedOp::Kind::kRelu) {
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    } else if (f.kind == FusedOp::Kind::kSigmoid) {
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f);
    } else {
      po.append_binary(dnnl::algorithm::binary_add, P.Md(operands[oi++]));
    }
  }
  attr.set_post_ops(po);
  const memory::desc wany(wd, quant ? Dt::s8 : P.bf16 ? Dt::bf16 : Dt::f32, Tag::any);
  const memory::desc bmd({OC}, Dt::f32, Tag::x);
  const memory::dims strides{p.stride_h, p.stride_w}, dil{p.dil_h - 1, p.dil_w - 1};
  const memory::dims pl{p.pad_t, p.pad_l}, pr{p.pad_b, p.pad_r};
  const auto alg = dnnl::algorithm::convolution_direct;
  const auto prop = dnnl::prop_kind::forward_inference;
  auto make_pd = [&](const memory::desc& s, const memory::desc& d) {
    auto cd = b ? dnnl::convolution_forward::desc(prop, alg, s, wany, bmd, d, strides, dil, pl, pr)
                : dnnl::convolution_forward::desc(prop, alg, s, wany, d, strides, dil, pl, pr);
    return dnnl::convolution_forward::primitive_desc(cd, attr, P.eng);
  };
  auto is_ref = [](const dnnl::convolution_forward::primitive_desc& d) {
    return std::string(d.impl_info_str()).rfind("ref", 0) == 0;
  };
  // oneDNN's fast kernels miss a few shapes in our fixed layout (large dilations on small maps,
  // a single output channel); let it pick the layout there and reorder around.
  lw.pd = make_pd(src, dst);
  if (is_ref(lw.pd)) {
    auto any = [](const memory::desc& m) {
      return memory::desc(m.dims(), m.data_type(), Tag::any);
    };
    auto alt = make_pd(any(src), any(dst));
    if (!is_ref(alt)) lw.pd = alt;
  }
  lw.is_ref = is_ref(lw.pd);
  return lw;
}

// Reorders the chosen lowering's weights into its primitive's layout, now, before the next conv
// reuses the buffers they may sit in: a conv holds only its final weights from here on.
void PrepareWeights(Plan::Impl& P, ConvLowering& lw) {
  memory user(lw.weights_desc, P.eng, lw.weights);  // the reorder only reads it
  const memory::desc& wd = lw.pd.weights_desc();
  void* mem = P.pages.Allocate(wd.get_size());
  if (!mem) throw std::bad_alloc();
  lw.prepared = memory(wd, P.eng, mem);
  P.ReorderNow(user, lw.prepared);
  lw.weights = nullptr;
}

}  // namespace

Plan::Plan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::~Plan() = default;

Result<std::unique_ptr<Plan>> Plan::Compile(const Graph& g, const TypeMap& types,
                                            const Options& options) {
  const auto t_start = std::chrono::steady_clock::now();
  auto im = std::make_unique<Impl>();
  Impl& P = *im;
  P.bf16 = options.precision == Precision::kBFloat16;
  P.int8 = options.precision == Precision::kInt8;
  P.calibration = options.calibration;
  P.weight_levels = static_cast<float>(Int8WeightLevels());
  P.observe = options.observe;
  P.block = P.int8 ? 1 : DetectCpu().isa.rfind("avx512", 0) == 0 ? 16 : 8;
  PlanStats stats;
  const DType act_bf = P.bf16 ? DType::kBFloat16 : DType::kFloat32;

  auto slot_for_value = [&](const std::string& v) -> int {
    auto it = P.slot_of.find(v);
    if (it != P.slot_of.end()) return it->second;
    const ValueType& t = types.at(v);
    const bool blocked = t.shape.size() == 4 && t.shape[1] % P.block == 0;
    return P.AddSlot(v, t.shape, blocked ? act_bf : DType::kFloat32, blocked);
  };
  auto is_output = [&](const std::string& v) {
    return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
  };
  auto is_input = [&](const std::string& v) {
    return std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
  };

  for (const auto& in : g.inputs) slot_for_value(in);
  for (const auto& n : g.nodes) {
    if (n.op != "Conv" && n.op != "MaxPool" && n.op != "Resize" && n.op != "Concat" &&
        n.op != "Add" && n.op != "Mul" && n.op != "Relu" && n.op != "Sigmoid" &&
        n.op != "Identity") {
      return Status("unsupported_op",
                    n.Describe() + ": '" + n.op + "' cannot run on an input-dependent value");
    }
    slot_for_value(n.outputs[0]);
  }

  // In-place concat: every input writes straight into its slice of the output (N=1, axis 1,
  // same dtype/layout, block-aligned offsets, each value in one concat only).
  std::set<int> aliased_concats;
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (n.op != "Concat") continue;
    const int o = P.slot_of[n.outputs[0]];
    const Slot& os = P.slots[o];
    int64_t axis = n.Int("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(os.shape.size());
    // nhwc (int8) interleaves channels: a slice is not contiguous, so int8 copies instead.
    if (P.int8 || os.shape.size() != 4 || axis != 1 || os.shape[0] != 1) continue;
    std::set<std::string> seen;
    bool ok = true;
    int64_t c0 = 0;
    for (const auto& in : n.inputs) {
      auto it = P.slot_of.find(in);
      if (it == P.slot_of.end() || !seen.insert(in).second || is_input(in) || is_output(in)) {
        ok = false;
        break;
      }
      const Slot& s = P.slots[it->second];
      if (s.parent >= 0 || s.dt != os.dt || s.blocked != os.blocked ||
          (os.blocked && c0 % P.block != 0)) {
        ok = false;
        break;
      }
      c0 += s.shape[1];
    }
    if (!ok) continue;
    c0 = 0;
    const size_t plane = static_cast<size_t>(os.shape[2] * os.shape[3]) * DTypeSize(os.dt);
    for (const auto& in : n.inputs) {
      Slot& s = P.slots[P.slot_of[in]];
      s.parent = o;
      s.offset_in_parent = static_cast<size_t>(c0) * plane;
      c0 += s.shape[1];
    }
    aliased_concats.insert(static_cast<int>(ni));
    ++stats.concats_in_place;
  }

  // The step list, in execution order; primitives are built once the arena exists.
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const int s = P.slot_of[g.inputs[i]];
    P.in_shapes.push_back(P.slots[s].shape);
    P.pending.push_back({"input " + g.inputs[i], {}, {s}, [&P, s, i](Step* st) {
                           memory::desc md(Dims(P.slots[s].shape), Dt::f32,
                                           PlainTag(P.slots[s].shape.size()));
                           P.user_in[i] = memory(md, P.eng, nullptr);
                           st->run = P.Reorder(P.user_in[i], P.Mem(s));
                         }});
  }
  P.user_in.resize(g.inputs.size());

  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    const int y = P.slot_of[n.outputs[0]];
    const std::string desc = n.Describe();
    if (n.op == "Conv") {
      int x = P.slot_of.at(n.inputs[0]);
      const Tensor& w = g.initializers.at(n.inputs[1]);
      const Tensor* b =
          n.inputs.size() > 2 && !n.inputs[2].empty() ? &g.initializers.at(n.inputs[2]) : nullptr;
      auto pr = ParseConv(n, P.slots[x].shape, w.shape());
      if (!pr.ok()) return pr.status();
      const ConvParams p = *pr;
      std::vector<int> operands;
      for (const auto& f : n.fused) {
        if (f.kind == FusedOp::Kind::kAdd) operands.push_back(P.slot_of.at(f.operand));
      }
      stats.fused_post_ops += static_cast<int>(n.fused.size());
      const int observe = P.observe ? x : -1;  // the float source, before any conversion
      std::optional<ConvLowering> lowering;
      try {
        // int8: a u8 (or s8) copy of the calibrated source (one per value), s8 weights per
        // channel. A shape oneDNN has no fast int8 kernel for stays in float.
        if (const ValueRange* r = P.Int8Range(n, x)) {
          const memory::desc q(P.Md(x).dims(), Impl::Unsigned(*r) ? Dt::u8 : Dt::s8, Tag::nhwc);
          lowering = LowerConv(P, n, p, q, P.Md(y), w, b, operands, Impl::QuantScale(*r));
          if (lowering->is_ref) {
            lowering.reset();
          } else {
            x = P.Quantized(n.inputs[0], x, *r);
            ++stats.int8_convs;
          }
        }
        if (!lowering) {
          if (P.slots[x].dt != act_bf) {  // bf16 convolutions need bf16 sources
            const int xs = x;
            const Slot src = P.slots[x];
            const int t = P.AddSlot(src.name + "#bf16", src.shape, act_bf, src.blocked);
            P.pending.push_back({"convert " + src.name, {xs}, {t}, [&P, xs, t](Step* st) {
                                   st->run = P.Reorder(P.Mem(xs), P.Mem(t));
                                 }});
            x = t;
          }
          lowering = LowerConv(P, n, p, P.Md(x), P.Md(y), w, b, operands, 0.f);
          ++stats.float_convs;
        }
        PrepareWeights(P, *lowering);
      } catch (const dnnl::error& e) {
        return Status("unsupported_op", desc + ": oneDNN cannot run it: " + e.what());
      }
      std::vector<int> reads = {x};
      reads.insert(reads.end(), operands.begin(), operands.end());
      P.pending.push_back(
          {desc,
           reads,
           {y},
           [&P, x, y, lw = std::make_shared<ConvLowering>(std::move(*lowering)), operands,
            fused = n.fused, &stats](Step* st) {
             const auto& pd = lw->pd;
             const memory wmem = lw->prepared;
             P.constants.push_back(wmem);
             stats.weight_bytes += pd.weights_desc().get_size();
             memory src = P.Mem(x), dst = P.Mem(y), csrc = src, cdst = dst;
             if (pd.src_desc() != src.get_desc()) {
               csrc = memory(pd.src_desc(), P.eng);
               stats.arena_bytes += pd.src_desc().get_size();
             }
             if (pd.dst_desc() != dst.get_desc()) {
               cdst = memory(pd.dst_desc(), P.eng);
               stats.arena_bytes += pd.dst_desc().get_size();
             }
             std::unordered_map<int, memory> args{
                 {DNNL_ARG_SRC, csrc}, {DNNL_ARG_WEIGHTS, wmem}, {DNNL_ARG_DST, cdst}};
             if (!lw->bias.empty()) {
               const int64_t oc = static_cast<int64_t>(lw->bias.size());
               args[DNNL_ARG_BIAS] = P.Constant(Tensor::Floats({oc}, lw->bias), {oc}, Tag::x);
               stats.weight_bytes += lw->bias.size() * 4;
             }
             int pi = 0;
             size_t oi = 0;
             for (const auto& f : fused) {
               if (f.kind == FusedOp::Kind::kAdd) {
                 args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(pi) | DNNL_ARG_SRC_1] = P.Mem(operands[oi++]);
               }
               ++pi;
             }
             const Call conv = P.Bind(dnnl::convolution_forward(pd), pd.scratchpad_desc(), args);
             if (csrc == src && cdst == dst) {
               st->run = conv;
             } else {
               std::optional<Call> in, out;
               if (csrc != src) in = P.Reorder(src, csrc);
               if (cdst != dst) out = P.Reorder(cdst, dst);
               st->run = [conv, in, out](dnnl::stream& s) {
                 if (in) (*in)(s);
                 conv(s);
                 if (out) (*out)(s);
               };
             }
           },
           observe,
           n.inputs[0]});
    } else if (n.op == "MaxPool") {
      const int x = P.slot_of.at(n.inputs[0]);
      auto pr = ParseMaxPool(n, P.slots[x].shape);
      if (!pr.ok()) return pr.status();
      const PoolParams p = *pr;
      P.pending.push_back({desc, {x}, {y}, [&P, x, y, p](Step* st) {
                             dnnl::pooling_forward::desc d(
                                 dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                 P.Md(x), P.Md(y), {p.stride_h, p.stride_w}, {p.kh, p.kw},
                                 {p.pad_t, p.pad_l}, {p.pad_b, p.pad_r});
                             dnnl::pooling_forward::primitive_desc pd(d, Impl::Attr(), P.eng);
                             st->run = P.Bind(dnnl::pooling_forward(pd), pd.scratchpad_desc(),
                                              {{DNNL_ARG_SRC, P.Mem(x)}, {DNNL_ARG_DST, P.Mem(y)}});
                           }});
    } else if (n.op == "Resize") {
      const int x = P.slot_of.at(n.inputs[0]);
      const Tensor* sc =
          n.inputs.size() > 2 && !n.inputs[2].empty() ? &g.initializers.at(n.inputs[2]) : nullptr;
      const Tensor* sz =
          n.inputs.size() > 3 && !n.inputs[3].empty() ? &g.initializers.at(n.inputs[3]) : nullptr;
      auto pr = ParseResize(n, P.slots[x].shape, sc, sz);
      if (!pr.ok()) return pr.status();
      const ResizeParams p = *pr;
      P.pending.push_back(
          {desc, {x}, {y}, [&P, x, y, p](Step* st) {
             const Slot& xs = P.slots[x];
             const Slot& ys = P.slots[y];
             if (xs.dt != ys.dt || xs.blocked != ys.blocked)
               throw std::runtime_error("layout mismatch");
             const int64_t block = P.BlockOf(x);
             const int64_t planes = xs.shape[0] * xs.shape[1] / block;
             const void* src = P.Ptr(x);
             void* dst = P.Ptr(y);
             const bool bf = xs.dt == DType::kBFloat16;
             const int64_t h = xs.shape[2], w = xs.shape[3], oh = ys.shape[2], ow = ys.shape[3];
             st->run = [p, src, dst, bf, planes, block, h, w, oh, ow](dnnl::stream&) {
               ResizeSpatial(p, src, dst, bf, planes, block, h, w, oh, ow);
             };
           }});
    } else if (n.op == "Concat") {
      if (aliased_concats.count(static_cast<int>(ni))) continue;  // inputs already in place
      std::vector<int> xs;
      for (const auto& in : n.inputs) {
        if (!P.slot_of.count(in))
          return Status("unsupported_op", desc + ": constant concat inputs are not supported");
        xs.push_back(P.slot_of.at(in));
      }
      int64_t axis = n.Int("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(P.slots[y].shape.size());
      P.pending.push_back({desc, xs, {y}, [&P, xs, y, axis](Step* st) {
                             // Each input reorders into its slice of the output (converting dtype
                             // and layout); a slice that cuts a channel block falls back to
                             // oneDNN's concat.
                             std::vector<Call> copies;
                             try {
                               int64_t off = 0;
                               for (int xi : xs) {
                                 memory::dims offsets(P.slots[y].shape.size(), 0);
                                 offsets[axis] = off;
                                 off += P.slots[xi].shape[axis];
                                 memory src = P.Mem(xi);
                                 memory dst(
                                     P.Md(y).submemory_desc(Dims(P.slots[xi].shape), offsets),
                                     P.eng, P.Ptr(y));
                                 copies.push_back(P.Reorder(src, dst));
                               }
                               st->run = [copies](dnnl::stream& s) {
                                 for (const Call& c : copies) c(s);
                               };
                               return;
                             } catch (const dnnl::error&) {
                             }
                             std::vector<memory::desc> mds;
                             std::unordered_map<int, memory> args{{DNNL_ARG_DST, P.Mem(y)}};
                             for (size_t i = 0; i < xs.size(); ++i) {
                               mds.push_back(P.Md(xs[i]));
                               args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = P.Mem(xs[i]);
                             }
                             dnnl::concat::primitive_desc pd(P.Md(y), static_cast<int>(axis), mds,
                                                             P.eng, Impl::Attr());
                             st->run = P.Bind(dnnl::concat(pd), pd.scratchpad_desc(), args);
                           }});
    } else if (n.op == "Add" || n.op == "Mul") {
      std::string a = n.inputs[0], b = n.inputs[1];
      // oneDNN broadcasts only the second source: put the full-shape operand first.
      if (types.at(a).shape != types.at(n.outputs[0]).shape) std::swap(a, b);
      if (!P.slot_of.count(a)) return Status("unsupported_op", desc + ": both operands constant");
      const int xa = P.slot_of.at(a);
      const bool b_const = g.IsConstant(b);
      const int xb = b_const ? -1 : P.slot_of.at(b);
      Tensor bt = b_const ? g.initializers.at(b) : Tensor();
      const auto alg = n.op == "Add" ? dnnl::algorithm::binary_add : dnnl::algorithm::binary_mul;
      std::vector<int> reads{xa};
      if (xb >= 0) reads.push_back(xb);
      P.pending.push_back(
          {desc, reads, {y}, [&P, xa, xb, bt, y, alg](Step* st) {
             const size_t rank = P.slots[y].shape.size();
             auto padded = [rank](Shape s) {
               while (s.size() < rank) s.insert(s.begin(), 1);
               return s;
             };
             memory mb;
             if (xb >= 0) {
               mb = P.Mem(xb);
               if (P.slots[xb].shape.size() != rank) {
                 mb = memory(P.Md(xb).reshape(Dims(padded(P.slots[xb].shape))), P.eng, P.Ptr(xb));
               }
             } else {
               const Shape s = padded(bt.shape());
               mb = P.Constant(bt, Dims(s), PlainTag(s.size()));
             }
             dnnl::binary::desc d(alg, P.Md(xa), mb.get_desc(), P.Md(y));
             dnnl::binary::primitive_desc pd(d, Impl::Attr(), P.eng);
             st->run = P.Bind(
                 dnnl::binary(pd), pd.scratchpad_desc(),
                 {{DNNL_ARG_SRC_0, P.Mem(xa)}, {DNNL_ARG_SRC_1, mb}, {DNNL_ARG_DST, P.Mem(y)}});
           }});
    } else if (n.op == "Relu" || n.op == "Sigmoid") {
      const int x = P.slot_of.at(n.inputs[0]);
      const auto alg =
          n.op == "Relu" ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_logistic;
      P.pending.push_back({desc, {x}, {y}, [&P, x, y, alg](Step* st) {
                             dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg,
                                                           P.Md(x), 0.f, 0.f);
                             dnnl::eltwise_forward::primitive_desc pd(d, Impl::Attr(), P.eng);
                             st->run = P.Bind(dnnl::eltwise_forward(pd), pd.scratchpad_desc(),
                                              {{DNNL_ARG_SRC, P.Mem(x)}, {DNNL_ARG_DST, P.Mem(y)}});
                           }});
    } else {  // Identity
      const int x = P.slot_of.at(n.inputs[0]);
      P.pending.push_back(
          {desc, {x}, {y}, [&P, x, y](Step* st) { st->run = P.Reorder(P.Mem(x), P.Mem(y)); }});
    }
  }

  P.user_out.resize(g.outputs.size());
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const std::string& o = g.outputs[i];
    if (g.IsConstant(o)) {
      P.constant_outputs[i] = g.initializers.at(o).CastTo(DType::kFloat32);
      P.out_shapes.push_back(g.initializers.at(o).shape());
      continue;
    }
    const int s = P.slot_of.at(o);
    P.out_shapes.push_back(P.slots[s].shape);
    P.pending.push_back({"output " + o, {s}, {}, [&P, s, i](Step* st) {
                           memory::desc md(Dims(P.slots[s].shape), Dt::f32,
                                           PlainTag(P.slots[s].shape.size()));
                           P.user_out[i] = memory(md, P.eng, nullptr);
                           st->run = P.Reorder(P.Mem(s), P.user_out[i]);
                         }});
  }

  // Liveness: each root slot lives from its first write to its last read.
  for (size_t i = 0; i < P.pending.size(); ++i) {
    for (const auto* list : {&P.pending[i].reads, &P.pending[i].writes}) {
      for (int s : *list) {
        size_t off;
        Slot& r = P.slots[P.Root(s, &off)];
        r.first = std::min(r.first, static_cast<int>(i));
        r.last = std::max(r.last, static_cast<int>(i));
      }
    }
  }
  std::vector<int> roots;
  for (size_t i = 0; i < P.slots.size(); ++i) {
    if (P.slots[i].parent < 0 && P.slots[i].last >= 0) roots.push_back(static_cast<int>(i));
  }
  std::sort(roots.begin(), roots.end(), [&](int a, int b) {
    return P.slots[a].bytes != P.slots[b].bytes ? P.slots[a].bytes > P.slots[b].bytes : a < b;
  });
  std::vector<int> placed;
  size_t arena_bytes = 0;
  for (int r : roots) {
    Slot& s = P.slots[r];
    std::vector<std::pair<size_t, size_t>> busy;
    for (int q : placed) {
      const Slot& o = P.slots[q];
      if (o.first <= s.last && s.first <= o.last) busy.push_back({o.offset, o.offset + o.bytes});
    }
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (const auto& [b, e] : busy) {
      if (off + s.bytes <= b) break;
      off = std::max(off, e);
    }
    s.offset = off;
    arena_bytes = std::max(arena_bytes, off + s.bytes);
    placed.push_back(r);
  }
  P.arena = static_cast<uint8_t*>(P.pages.Mapped(arena_bytes));
  if (!P.arena)
    return Status("out_of_memory",
                  "cannot allocate " + std::to_string(arena_bytes) + " bytes of activations");
  stats.arena_bytes = arena_bytes;

  // The arena's pages are faulted in beside the primitives' creation, which never touches them.
  PrefaultThread prefault(P.arena, arena_bytes);
  const auto t_build = std::chrono::steady_clock::now();
  P.steps.resize(P.pending.size());
  for (size_t i = 0; i < P.pending.size(); ++i) {
    P.steps[i].name = P.pending[i].name;
    P.steps[i].observe = P.pending[i].observe;
    P.steps[i].observe_value = P.pending[i].observe_value;
    try {
      P.pending[i].build(&P.steps[i]);
    } catch (const dnnl::error& e) {
      return Status("unsupported_op", P.pending[i].name + ": oneDNN cannot run it: " + e.what());
    } catch (const std::exception& e) {
      return Status("unsupported_op", P.pending[i].name + ": " + e.what());
    }
  }
  P.pending.clear();
  P.widen_buffer = {};
  P.quant_buffer = {};
  if (P.scratch_bytes > 0) {
    P.scratch = static_cast<uint8_t*>(P.pages.Allocate(P.scratch_bytes));
    if (!P.scratch)
      return Status("out_of_memory",
                    "cannot allocate " + std::to_string(P.scratch_bytes) + " bytes of scratchpad");
    for (memory& m : P.scratch_users) m.set_data_handle(P.scratch);
  }
  stats.scratchpad_bytes = P.scratch_bytes;
  if (std::getenv("BGERASE_PROFILE")) {  // lowering (weights included) vs primitive creation
    using ms = std::chrono::duration<double, std::milli>;
    std::fprintf(stderr, "plan: lower %.0f ms, build primitives %.0f ms\n",
                 ms(t_build - t_start).count(),
                 ms(std::chrono::steady_clock::now() - t_build).count());
  }
  stats.steps = static_cast<int>(
      std::count_if(P.steps.begin(), P.steps.end(), [](const Step& s) { return bool(s.run); }));
  auto plan = std::unique_ptr<Plan>(new Plan(std::move(im)));
  plan->stats_ = stats;
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
    for (auto& st : P.steps) {
      if (!st.run) continue;
      if (st.observe >= 0) {
        P.strm.wait();
        const float* v = static_cast<const float*>(P.Ptr(st.observe));
        const int64_t n = NumElements(P.slots[st.observe].shape);
        const auto [lo, hi] = std::minmax_element(v, v + n);
        auto [it, fresh] = P.observations.try_emplace(st.observe_value);
        Impl::Observation& o = it->second;
        o.min = fresh ? *lo : std::min(o.min, *lo);
        o.max = fresh ? *hi : std::max(o.max, *hi);
        for (int64_t i = 0; i < n; ++i) ++o.hist[std::bit_cast<uint32_t>(v[i]) >> 20];
        o.count += static_cast<uint64_t>(n);
      }
      const auto t0 = std::chrono::steady_clock::now();
      st.run(P.strm);
      if (profile) {
        P.strm.wait();
        times.push_back(
            {std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                 .count(),
             st.name});
      }
    }
    P.strm.wait();
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
