// See lowering.h: slots, primitive binding and int8 quantization shared by every lowering.
#include "engine/onednn/lowering.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bgerase::engine::onednn {

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

size_t AlignUp(size_t v, size_t align) {
  return (v + align - 1) / align * align;
}

dnnl::primitive_attr Lowering::Attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

Call Lowering::Bind(dnnl::primitive prim, const memory::desc& scratchpad,
                    std::unordered_map<int, memory> args) {
  if (scratchpad.get_size() > 0) {
    memory m(scratchpad, eng, DNNL_MEMORY_NONE);
    scratch_users.push_back(m);
    scratch_bytes = std::max(scratch_bytes, scratchpad.get_size());
    args[DNNL_ARG_SCRATCHPAD] = m;
  }
  return {std::move(prim), std::move(args)};
}

Call Lowering::Reorder(const memory& src, const memory& dst, float scale, int32_t zero_point) {
  dnnl::primitive_attr attr = Attr();
  if (scale != 1.f) attr.set_output_scales(0, {scale});
  if (zero_point != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {zero_point});
  dnnl::reorder::primitive_desc pd(src, dst, attr);
  return Bind(dnnl::reorder(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

void Lowering::ReorderNow(const memory& src, const memory& dst) {
  dnnl::reorder::primitive_desc pd(src, dst, Attr());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  if (pd.scratchpad_desc().get_size() > 0)
    args[DNNL_ARG_SCRATCHPAD] = memory(pd.scratchpad_desc(), eng);
  dnnl::reorder(pd).execute(strm, args);
  strm.wait();
}

int Lowering::SlotFor(const std::string& v) {
  auto it = slot_of.find(v);
  if (it != slot_of.end()) return it->second;
  const ValueType& t = types->at(v);
  const bool blocked = t.shape.size() == 4 && t.shape[1] % block == 0;
  auto u8 = u8_scale.find(v);
  if (u8 != u8_scale.end() && blocked) {
    const int s = AddSlot(v, t.shape, DType::kUInt8, true);
    slots[s].scale = u8->second;
    return s;
  }
  return AddSlot(v, t.shape, blocked ? ActivationType() : DType::kFloat32, blocked);
}

int Lowering::AddSlot(const std::string& name, const Shape& shape, DType dt, bool blocked) {
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

int Lowering::Root(int s, size_t* off) const {
  size_t o = 0;
  while (slots[s].parent >= 0) {
    o += slots[s].offset_in_parent;
    s = slots[s].parent;
  }
  *off = o;
  return s;
}

void* Lowering::Ptr(int s) const {
  size_t o;
  const int r = Root(s, &o);
  return arena + slots[r].offset + o;
}

memory::desc Lowering::Md(int s) const {
  const Slot& sl = slots[s];
  const Dt dt = sl.dt == DType::kBFloat16 ? Dt::bf16
                : sl.dt == DType::kUInt8  ? Dt::u8
                : sl.dt == DType::kInt8   ? Dt::s8
                                          : Dt::f32;
  const Tag blocked = int8 ? Tag::nhwc : block == 16 ? Tag::nChw16c : Tag::nChw8c;
  return memory::desc(Dims(sl.shape), dt, sl.blocked ? blocked : PlainTag(sl.shape.size()));
}

int64_t Lowering::BlockOf(int s) const {
  const Slot& sl = slots[s];
  if (!sl.blocked) return 1;
  return int8 ? sl.shape[1] : block;
}

memory Lowering::Constant(const Tensor& t, const memory::dims& dims, Tag tag, Dt dt) {
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

const ValueRange* Lowering::Int8Source(const Node& n) const {
  if (!int8 || !calibration || n.op != "Conv" || KeptFloat(n.name)) return nullptr;
  const Shape& xs = types->at(n.inputs[0]).shape;
  if (xs.size() != 4 || xs[1] < 8 || n.Int("group", 1) != 1) return nullptr;
  auto it = calibration->ranges.find(n.inputs[0]);
  if (it == calibration->ranges.end() || !(std::max(-it->second.min, it->second.max) > 0))
    return nullptr;
  return &it->second;
}

const ValueRange* Lowering::Int8Range(const Node& n, int x) const {
  if (!slots[x].blocked || slots[x].dt != DType::kFloat32) return nullptr;
  return Int8Source(n);
}

int Lowering::FloatCopy(int s) {
  auto it = float_copy.find(s);
  if (it != float_copy.end()) return it->second;
  const Slot src = slots[s];
  const int f = AddSlot(src.name + "#f32", src.shape, DType::kFloat32, src.blocked);
  pending.push_back({"dequantize " + src.name, {s}, {f}, [this, s, f](Step* st) {
                       st->run = Reorder(Mem(s), Mem(f), 1.f / slots[s].scale);
                     }});
  float_copy[s] = f;
  return f;
}

bool Lowering::KeptFloat(const std::string& node) const {
  for (const auto& f : calibration->float_nodes) {
    if (f == node || (!f.empty() && f.back() == '/' && node.rfind(f, 0) == 0)) return true;
  }
  return false;
}

Lowering::SourceQuant Lowering::QuantOf(const ValueRange& r) const {
  if (r.min >= 0) return {Dt::u8, 255.f / r.max, 0};
  if (weight_levels >= 127) return {Dt::s8, 127.f / std::max(-r.min, r.max), 0};
  const float top = std::max(r.max, 0.f);
  const float scale = 255.f / (top - r.min);
  return {Dt::u8, scale, static_cast<int32_t>(std::lround(-r.min * scale))};
}

int Lowering::Quantized(const std::string& value, int x, const ValueRange& r) {
  auto it = quantized.find(value);
  if (it != quantized.end()) return it->second;
  const SourceQuant sq = QuantOf(r);
  const bool u8 = sq.dt == Dt::u8;
  const int q = AddSlot(value + (u8 ? "#u8" : "#s8"), slots[x].shape,
                        u8 ? DType::kUInt8 : DType::kInt8, true);
  pending.push_back({"quantize " + value, {x}, {q}, [this, x, q, sq](Step* st) {
                       st->run = Reorder(Mem(x), Mem(q), sq.scale, sq.zero_point);
                     }});
  quantized[value] = q;
  return q;
}

}  // namespace bgerase::engine::onednn
