// What the oneDNN lowerings share (internal to the engine): the plan's slots, its step list,
// the memory it owns, and the helpers that build primitives over them. Plan::Compile fills one
// Lowering per plan, each op's lowering (onednn/<op>.cpp, named by the op table) adds its
// steps, and the plan keeps it: its steps point into the slots, arena and weights held here.
//
// Layout: 4-D activations whose channel count is a multiple of the block use nChw16c on AVX-512
// and nChw8c below (what oneDNN's convolutions want there, so no reorders between layers); int8
// plans keep them nhwc; everything else is plain. In bf16 mode the blocked activations are
// bf16 and the plain ones (model input, 1-channel maps) f32.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <dnnl.hpp>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/onednn/page_pool.h"
#include "engine/passes.h"
#include "engine/session.h"

namespace bgerase::engine::onednn {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

constexpr size_t kAlign = 64;

// One value's place in the arena: shape, dtype and layout. A concat input may be a slice of its
// concat's slot (in place); lifetimes over the step list decide a root slot's arena offset.
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
  float scale = 0;  // a u8 activation of an int8 plan: q = round(x * scale); 0 for the others
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

// A step as lowering leaves it: the slots it reads and writes (for liveness), and how to build
// its primitives once the arena exists.
struct PendingStep {
  std::string name;
  std::vector<int> reads, writes;
  std::function<void(Step*)> build;  // may throw dnnl::error or std::runtime_error
  int observe = -1;
  std::string observe_value;
};

memory::dims Dims(const Shape& s);
Tag PlainTag(size_t rank);
size_t AlignUp(size_t v, size_t align = kAlign);

struct Lowering {
  // What Plan::Compile lowers; valid only while it runs.
  const Graph* graph = nullptr;
  const TypeMap* types = nullptr;

  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  bool bf16 = false;
  // int8: calibrated convolutions run u8s8, and every 4-D activation is nhwc (what oneDNN's
  // int8 kernels read and write; its f32 kernels run nhwc as fast as blocked).
  bool int8 = false;
  const Calibration* calibration = nullptr;
  float weight_levels = 127.f;
  std::map<std::string, int> quantized;  // value -> the slot of its u8/s8 copy
  // Activations an int8 plan keeps u8 (PlanU8Activations), with their scales; and the float
  // copies of u8 slots made where a consumer turned out to need one (FloatCopy).
  std::map<std::string, float> u8_scale;
  std::map<int, int> float_copy;
  bool observe = false;  // conv steps record their float source's range
  int64_t block = 16;    // channel block of the blocked layout: 16 on AVX-512, 8 below, 1 (nhwc)
  std::vector<Slot> slots;
  std::map<std::string, int> slot_of;
  std::set<int> concats_in_place;  // output slots whose concat's inputs are written in place
  std::vector<PendingStep> pending;
  // Primitive creations (oneDNN's JIT) that depend on nothing but their descriptor: Plan::Compile
  // runs them on every core before the steps are built, which then take the made primitives.
  std::vector<std::function<void()>> jit;
  std::vector<Step> steps;
  uint8_t* arena = nullptr;
  std::vector<memory> constants;  // weights, biases, constant operands: alive with the plan
  // Compile time only: one conv's widened and quantized weights (onednn/conv.cpp).
  std::vector<float> widen_buffer;
  std::vector<int8_t> quant_buffer;
  PlanStats stats;
  // Every primitive uses one user-managed scratchpad, owned by the plan. oneDNN's default
  // (library mode) keeps a scratchpad per thread, sized when a primitive is created, so a
  // primitive created on one thread and run on another overruns it (the server builds plans
  // on its loader thread and runs them on workers). Steps run one at a time, so they share it.
  std::vector<memory> scratch_users;
  size_t scratch_bytes = 0;
  uint8_t* scratch = nullptr;
  // Arena (its own mapping, faulted in beside the primitives' creation where a core is spare),
  // scratchpad and prepared weights.
  PagePool pages;

  // The attributes every primitive is created with: a user-managed scratchpad.
  static dnnl::primitive_attr Attr();
  // `args` plus the plan's scratchpad when the primitive wants one (bound once it exists).
  Call Bind(dnnl::primitive prim, const memory::desc& scratchpad,
            std::unordered_map<int, memory> args);
  // dst = scale * src + zero_point (converted; saturated and rounded to nearest for integer
  // types).
  Call Reorder(const memory& src, const memory& dst, float scale = 1.f, int32_t zero_point = 0);
  // A reorder run once, now, on this thread (weights and constants at compile time).
  void ReorderNow(const memory& src, const memory& dst);

  // The activation type of blocked slots: bf16 in bf16 plans, else f32.
  DType ActivationType() const { return bf16 ? DType::kBFloat16 : DType::kFloat32; }
  // The slot of graph value `v`, added (laid out from its type) on first use.
  int SlotFor(const std::string& v);
  int AddSlot(const std::string& name, const Shape& shape, DType dt, bool blocked);
  // The root slot `s` is a slice of (itself when none), with `*off` its offset in the root.
  int Root(int s, size_t* off) const;
  void* Ptr(int s) const;  // once the arena exists
  memory::desc Md(int s) const;
  memory Mem(int s) { return memory(Md(s), eng, Ptr(s)); }
  // The innermost run of channels in a slot's layout: [planes][H][W][block].
  int64_t BlockOf(int s) const;
  // `t` as a constant of the plan's lifetime in `dims`/`tag`, converted to `dt`.
  memory Constant(const Tensor& t, const memory::dims& dims, Tag tag, Dt dt = Dt::f32);

  // The calibrated range of conv `n`'s source when it may run in int8: calibrated, not kept in
  // float by the calibration, ungrouped, and with enough input channels to gain (the first
  // conv's 3 channels make a dot product too short for int8 to pay). Int8Range also wants the
  // source slot `x` to be a float activation (a u8 one is read as it is).
  const ValueRange* Int8Source(const Node& n) const;
  const ValueRange* Int8Range(const Node& n, int x) const;
  // Listed by name, or under a listed prefix ending in '/' (a whole stage: "/stage1d/").
  bool KeptFloat(const std::string& node) const;
  // How a calibrated source is stored: q = round(x * scale) + zero_point, saturated. Sources
  // that never go negative (ReLU outputs, nearly all) use u8 with all 256 levels. Signed ones
  // are s8, symmetric, where the CPU has VNNI; without it they are u8 with a zero point over
  // [min, max]: oneDNN's s8-source kernels there halve the weights to keep the 16-bit pair sums
  // from saturating, which on top of our 63-level weights cost the guard's worst image 0.0043.
  struct SourceQuant {
    Dt dt = Dt::u8;
    float scale = 1.f;
    int32_t zero_point = 0;
  };
  SourceQuant QuantOf(const ValueRange& r) const;
  // The int8 copy of `value` (float slot `x`) as QuantOf(r) says, added with its quantize step
  // on first use.
  int Quantized(const std::string& value, int x, const ValueRange& r);
  // A float32 copy of u8 slot `s`, added with its step on first use: for a consumer that could
  // not read u8 after all (a conv oneDNN has only its reference int8 kernel for).
  int FloatCopy(int s);
};

// The lowerings the op table names, one file each beside the op's reference kernel. Each adds
// the steps that compute `n` (its output slot exists) to L.pending; errors name the node.
Status LowerConv(Lowering& L, const Node& n);      // conv.cpp
Status LowerMaxPool(Lowering& L, const Node& n);   // max_pool.cpp
Status LowerResize(Lowering& L, const Node& n);    // resize.cpp (our own kernel)
Status LowerConcat(Lowering& L, const Node& n);    // concat.cpp
Status LowerBinary(Lowering& L, const Node& n);    // binary.cpp: Add, Mul
Status LowerEltwise(Lowering& L, const Node& n);   // eltwise.cpp: Relu, Sigmoid
Status LowerIdentity(Lowering& L, const Node& n);  // identity.cpp

// In-place concat (concat.cpp), before any step is lowered: where N=1, the axis is 1, dtypes and
// layouts match, offsets are block-aligned and each value feeds one concat only, the inputs'
// slots become slices of the output's, and LowerConcat adds no step.
void PlaceConcatsInPlace(Lowering& L);

// u8 activations (u8_activations.cpp), before any slot exists: in an int8 plan, the values an
// int8 conv, a MaxPool, a Resize or a Concat produces stay u8 wherever every reader can take u8
// (an int8 conv's source, MaxPool, Resize, Concat), so no quantize step and no float copy runs
// between them. Fills L.u8_scale.
void PlanU8Activations(Lowering& L);

}  // namespace bgerase::engine::onednn
