// Refinement of unsure alpha from the photo's colours. Where the model is sure (alpha near 0 or
// 1) its alpha stays; where it is not — the edge band, and regions the model left grey over a
// true foreground — alpha is re-estimated with the local colour-line model that closed-form
// matting rests on (Levin, Lischinski & Weiss, "A Closed-Form Solution to Natural Image
// Matting", 2008): in each small window alpha is an affine function of the colour,
// a_k · I + b_k. The model of each window is fitted to the window's *confident* pixels only
// (a weighted ridge regression, as in the weighted guided filter of Li et al. 2015), so the
// evidence is the photo's own foreground and background colours around the unsure pixel, not a
// fixed threshold. Every pixel then takes the average of the models of the windows over it,
// weighted by how much confident evidence each window held, and blends it with the model's
// alpha by its own confidence. Each level of RefineOptions::levels runs once, in order (the
// default is one level; docs/design/quality.md has what two levels measured).
//
// Plain C++ over float planes; box sums are running sums (cost independent of the radius), bands
// of rows split across threads (OpenMP). The result does not depend on the thread count.
#pragma once

#include <vector>

namespace bgerase::matting {

struct RefineLevel {
  int radius;     // the window is (2 radius + 1)² pixels
  float epsilon;  // ridge on the colour covariance (colours in 0..1): larger trusts colour less
};

struct RefineOptions {
  std::vector<RefineLevel> levels = {{16, 1e-4f}};
  // A pixel's confidence is |2a − 1|^confidence_power: 1 at 0 and 1, 0 at one half.
  float confidence_power = 2.0f;
  // How much confident evidence (the summed confidence of the windows over a pixel, as a share
  // of the window) counts as enough to trust the colour model fully.
  float evidence_gain = 4.0f;
};

// Refines `alpha` (w*h, in [0, 1], in place) against `planes`: the photo at the same size, three
// w*h planes of colour in [0, 1] (any fixed per-channel offset is harmless). w, h >= 1.
void RefineAlpha(const float* const planes[3], float* alpha, int w, int h,
                 const RefineOptions& options = {});

}  // namespace bgerase::matting
