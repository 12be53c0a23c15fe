// oneDNN lowering of Conv (reference: reference/conv.cpp). fp32 and bf16 run in the plan's
// layout; int8 runs u8s8 on a quantized copy of a calibrated source. Weights are widened from
// fp16 and quantized per conv, then reordered once into the primitive's layout; ReLU, Sigmoid
// and the residual Add are post-ops (passes.h, FuseConvPostOps).
#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <new>
#include <optional>

#include "common/clones.h"
#include "engine/onednn/lowering.h"
#include "engine/op_params.h"

namespace bgerase::engine::onednn {
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
  dnnl::primitive prim;     // made ahead from `pd` (Lowering::jit), or empty
  std::vector<float> bias;  // empty: none
  bool is_ref = false;      // oneDNN found only its reference kernel
};

// |w|'s largest over a row, as the largest of its bits without the sign (the same order for
// finite floats): an integer max, which vectorises without fast-math. (Ternaries, not std::min
// and std::max: their references keep GCC from vectorising.)
BGERASE_CLONES_AVX512 float MaxAbs(const float* w, int64_t n) {
  uint32_t mbits = 0;
#pragma omp simd reduction(max : mbits)
  for (int64_t k = 0; k < n; ++k) {
    const uint32_t b = std::bit_cast<uint32_t>(w[k]) & 0x7fffffffu;
    mbits = b > mbits ? b : mbits;
  }
  return std::bit_cast<float>(mbits);
}

// q = w * ws clamped to +-levels, rounded half away from zero.
BGERASE_CLONES_AVX512 void QuantizeRow(const float* __restrict w, int64_t n, float ws, float levels,
                                       int8_t* __restrict q) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    float t = w[k] * ws;
    t = t < levels ? t : levels;
    t = t > -levels ? t : -levels;
    q[k] = static_cast<int8_t>(static_cast<int32_t>(t + (t < 0.f ? -0.5f : 0.5f)));
  }
}

// Symmetric per-channel s8 weights into the plan's quantize buffer, from float32 `wf` or, when
// null, from `w`'s fp16 rows widened one at a time. The accumulator is src*sx * w*ws, so each
// output channel is scaled back by 1/(sx*ws) (the returned output scales) and its bias (added to
// the accumulator) forward by sx*ws.
std::vector<float> QuantizeWeights(Lowering& L, const Tensor& w, const float* wf, int64_t OC,
                                   float src_scale, std::vector<float>* bias) {
  const size_t wn = static_cast<size_t>(w.size());
  const bool half = w.dtype() == DType::kFloat16;
  const int64_t per_oc = static_cast<int64_t>(wn) / OC;
  const float levels = L.weight_levels;
  L.quant_buffer.resize(std::max(L.quant_buffer.size(), wn));
  int8_t* qw = L.quant_buffer.data();
  const uint16_t* wh = half ? w.data<uint16_t>() : nullptr;
  std::vector<float> out_scales(static_cast<size_t>(OC));
#pragma omp parallel
  {
    std::vector<float> row(wh ? static_cast<size_t>(per_oc) : 0);
#pragma omp for schedule(static)
    for (int64_t oc = 0; oc < OC; ++oc) {
      const float* src_w = wf ? wf + oc * per_oc : row.data();
      if (wh) WidenHalves(wh + oc * per_oc, row.data(), static_cast<size_t>(per_oc));
      const float m = MaxAbs(src_w, per_oc);
      const float ws = m > 0 ? levels / m : 1.f;
      QuantizeRow(src_w, per_oc, ws, levels, qw + oc * per_oc);
      out_scales[oc] = 1.f / (src_scale * ws);
      if (!bias->empty()) (*bias)[oc] *= src_scale * ws;
    }
  }
  return out_scales;
}

// `quant`: int8, the source quantized as it says; null: the plan's float type. An int8 conv may
// write a u8 destination (`dst` u8 at `dst_scale`): the scale is folded into the output scales,
// or, where a residual add follows (its float operand is added in real units), applied by a last
// linear post-op (ReLU and the add commute with a positive scale; PlanU8Activations allows
// nothing else there).
ConvLowering MakeConvLowering(Lowering& L, const Node& n, const ConvParams& p,
                              const memory::desc& src, const memory::desc& dst, float dst_scale,
                              const Tensor& w, const Tensor* b, const std::vector<int>& operands,
                              const Lowering::SourceQuant* quant) {
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
    L.widen_buffer.resize(std::max(L.widen_buffer.size(), wn));
    if (half) {
      WidenHalves(w.data<uint16_t>(), L.widen_buffer.data(), wn);
    } else {
      const std::vector<float> f = w.AsFloats();
      std::copy(f.begin(), f.end(), L.widen_buffer.begin());
    }
    wf = L.widen_buffer.data();
  }
  if (b) lw.bias = b->AsFloats();
  dnnl::primitive_attr attr = Lowering::Attr();
  // The destination's units per real unit, and those the post-ops work in.
  const float target = dst_scale > 0 ? dst_scale : 1.f;
  const float unit = operands.empty() ? target : 1.f;
  if (quant) {
    std::vector<float> scales = QuantizeWeights(L, w, wf, OC, quant->scale, &lw.bias);
    for (float& sc : scales) sc *= unit;
    attr.set_output_scales(1 << 1, scales);
    if (quant->zero_point != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {quant->zero_point});
    lw.weights = L.quant_buffer.data();
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
      po.append_binary(dnnl::algorithm::binary_add, L.Md(operands[oi++]));
    }
  }
  if (quant && target != unit) {
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, target / unit, 0.f);
  }
  attr.set_post_ops(po);
  const memory::desc wany(wd, quant ? Dt::s8 : L.bf16 ? Dt::bf16 : Dt::f32, Tag::any);
  const memory::desc bmd({OC}, Dt::f32, Tag::x);
  const memory::dims strides{p.stride_h, p.stride_w}, dil{p.dil_h - 1, p.dil_w - 1};
  const memory::dims pl{p.pad_t, p.pad_l}, pr{p.pad_b, p.pad_r};
  const auto alg = dnnl::algorithm::convolution_direct;
  const auto prop = dnnl::prop_kind::forward_inference;
  auto make_pd = [&](const memory::desc& s, const memory::desc& d) {
    auto cd = b ? dnnl::convolution_forward::desc(prop, alg, s, wany, bmd, d, strides, dil, pl, pr)
                : dnnl::convolution_forward::desc(prop, alg, s, wany, d, strides, dil, pl, pr);
    return dnnl::convolution_forward::primitive_desc(cd, attr, L.eng);
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
void PrepareWeights(Lowering& L, ConvLowering& lw) {
  memory user(lw.weights_desc, L.eng, lw.weights);  // the reorder only reads it
  const memory::desc& wd = lw.pd.weights_desc();
  void* mem = L.pages.Allocate(wd.get_size());
  if (!mem) throw std::bad_alloc();
  lw.prepared = memory(wd, L.eng, mem);
  L.ReorderNow(user, lw.prepared);
  lw.weights = nullptr;
}

// Picks how conv `n` runs and prepares its weights. int8: the u8 source as it is stored, or a
// u8 (or s8) copy of a calibrated float source (one per value), s8 weights per channel; a shape
// oneDNN has no fast int8 kernel for stays in float. `*x` becomes the slot the primitive reads
// (the quantized, float or bf16 copy), `*y` the one it writes (a float slot a quantize step
// then reads when a float conv has a u8 output).
ConvLowering ChooseConv(Lowering& L, const Node& n, const ConvParams& p, int* x, int* y,
                        const Tensor& w, const Tensor* b, const std::vector<int>& operands) {
  std::optional<ConvLowering> lowering;
  const float dst_scale = L.slots[*y].scale;
  if (L.slots[*x].scale > 0) {  // a u8 activation (PlanU8Activations)
    const Lowering::SourceQuant sq{Dt::u8, L.slots[*x].scale, 0};
    lowering = MakeConvLowering(L, n, p, L.Md(*x), L.Md(*y), dst_scale, w, b, operands, &sq);
    if (lowering->is_ref) {
      lowering.reset();
      *x = L.FloatCopy(*x);
    } else {
      ++L.stats.int8_convs;
    }
  } else if (const ValueRange* r = L.Int8Range(n, *x)) {
    const Lowering::SourceQuant sq = L.QuantOf(*r);
    const memory::desc q(L.Md(*x).dims(), sq.dt, Tag::nhwc);
    lowering = MakeConvLowering(L, n, p, q, L.Md(*y), dst_scale, w, b, operands, &sq);
    if (lowering->is_ref) {
      lowering.reset();
    } else {
      *x = L.Quantized(n.inputs[0], *x, *r);
      ++L.stats.int8_convs;
    }
  }
  if (!lowering) {
    // Float from here: a u8 destination goes through a float copy.
    if (dst_scale > 0) {
      const Slot out = L.slots[*y];
      *y = L.AddSlot(out.name + "#f32", out.shape, DType::kFloat32, out.blocked);
    }
    const DType act = L.ActivationType();
    if (L.slots[*x].dt != act) {  // bf16 convolutions need bf16 sources
      const int xs = *x;
      const Slot src = L.slots[*x];
      const int t = L.AddSlot(src.name + "#bf16", src.shape, act, src.blocked);
      L.pending.push_back({"convert " + src.name, {xs}, {t}, [&L, xs, t](Step* st) {
                             st->run = L.Reorder(L.Mem(xs), L.Mem(t));
                           }});
      *x = t;
    }
    lowering = MakeConvLowering(L, n, p, L.Md(*x), L.Md(*y), 0.f, w, b, operands, nullptr);
    ++L.stats.float_convs;
  }
  PrepareWeights(L, *lowering);
  return std::move(*lowering);
}

// The conv's primitive over the arena, with a reorder on either side where oneDNN picked
// another layout than the slot's.
void BuildConvStep(Lowering& L, const ConvLowering& lw, int x, int y,
                   const std::vector<FusedOp>& fused, const std::vector<int>& operands, Step* st) {
  const auto& pd = lw.pd;
  const memory wmem = lw.prepared;
  L.constants.push_back(wmem);
  L.stats.weight_bytes += pd.weights_desc().get_size();
  memory src = L.Mem(x), dst = L.Mem(y), csrc = src, cdst = dst;
  if (pd.src_desc() != src.get_desc()) {
    csrc = memory(pd.src_desc(), L.eng);
    L.stats.arena_bytes += pd.src_desc().get_size();
  }
  if (pd.dst_desc() != dst.get_desc()) {
    cdst = memory(pd.dst_desc(), L.eng);
    L.stats.arena_bytes += pd.dst_desc().get_size();
  }
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, csrc}, {DNNL_ARG_WEIGHTS, wmem}, {DNNL_ARG_DST, cdst}};
  if (!lw.bias.empty()) {
    const int64_t oc = static_cast<int64_t>(lw.bias.size());
    args[DNNL_ARG_BIAS] = L.Constant(Tensor::Floats({oc}, lw.bias), {oc}, Tag::x);
    L.stats.weight_bytes += lw.bias.size() * 4;
  }
  int pi = 0;
  size_t oi = 0;
  for (const auto& f : fused) {
    if (f.kind == FusedOp::Kind::kAdd) {
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(pi) | DNNL_ARG_SRC_1] = L.Mem(operands[oi++]);
    }
    ++pi;
  }
  const dnnl::primitive prim = lw.prim ? lw.prim : dnnl::convolution_forward(pd);
  const Call conv = L.Bind(prim, pd.scratchpad_desc(), args);
  if (csrc == src && cdst == dst) {
    st->run = conv;
  } else {
    std::optional<Call> in, out;
    if (csrc != src) in = L.Reorder(src, csrc);
    if (cdst != dst) out = L.Reorder(cdst, dst);
    st->run = [conv, in, out](dnnl::stream& s) {
      if (in) (*in)(s);
      conv(s);
      if (out) (*out)(s);
    };
  }
}

}  // namespace

Status LowerConv(Lowering& L, const Node& n) {
  const Graph& g = *L.graph;
  int y = L.slot_of.at(n.outputs[0]);
  const std::string desc = n.Describe();
  int x = L.slot_of.at(n.inputs[0]);
  const Tensor& w = g.initializers.at(n.inputs[1]);
  const Tensor* b =
      n.inputs.size() > 2 && !n.inputs[2].empty() ? &g.initializers.at(n.inputs[2]) : nullptr;
  auto pr = ParseConv(n, L.slots[x].shape, w.shape());
  if (!pr.ok()) return pr.status();
  const ConvParams p = *pr;
  std::vector<int> operands;
  for (const auto& f : n.fused) {
    if (f.kind == FusedOp::Kind::kAdd) operands.push_back(L.slot_of.at(f.operand));
  }
  L.stats.fused_post_ops += static_cast<int>(n.fused.size());
  const int observe = L.observe ? x : -1;  // the float source, before any conversion
  const int out = y;
  std::shared_ptr<ConvLowering> lw;
  try {
    lw = std::make_shared<ConvLowering>(ChooseConv(L, n, p, &x, &y, w, b, operands));
  } catch (const dnnl::error& e) {
    return Status("unsupported_op", desc + ": oneDNN cannot run it: " + e.what());
  }
  L.jit.push_back([lw] { lw->prim = dnnl::convolution_forward(lw->pd); });
  std::vector<int> reads = {x};
  reads.insert(reads.end(), operands.begin(), operands.end());
  L.pending.push_back({desc,
                       reads,
                       {y},
                       [&L, x, y, lw, operands, fused = n.fused](Step* st) {
                         BuildConvStep(L, *lw, x, y, fused, operands, st);
                       },
                       observe,
                       n.inputs[0]});
  if (y != out) {  // a float conv with a u8 output: quantized after it
    L.pending.push_back({"quantize " + n.outputs[0], {y}, {out}, [&L, y, out](Step* st) {
                           st->run = L.Reorder(L.Mem(y), L.Mem(out), L.slots[out].scale);
                         }});
  }
  return Status::Ok();
}

}  // namespace bgerase::engine::onednn
