// Foreground colour under soft alpha: where a cut-out is partly transparent (hair, fur, motion
// blur), the photo's colour there is a mix, I = a F + (1 - a) B. Copying I into the cut-out
// carries the old background onto the new one (the grey or green fringe). EstimateForeground
// solves for F (and B) with the multi-level method of Germer, Uelwer, Conrad and Harmeling, "Fast
// Multi-Level Foreground Estimation" (ICPR 2020): per pixel, the least-squares F and B that
// explain I under a, pulled toward the neighbours' F and B by a weight that grows with the
// alpha gradient, solved coarse to fine from 1x1 up to the full size.
//
// Plain C++ over float planes; each sweep updates the pixels of one checkerboard colour in
// parallel (OpenMP) and then the other, so the result does not depend on the thread count. On
// the large levels only the pixels near unsure alpha are solved, so the cost follows the soft
// edge's area; a sure pixel's F (opaque) or B (clear) is the photo's colour.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bgerase::matting {

struct ForegroundOptions {
  float regularization = 1e-5f;  // pull toward the neighbours where alpha is flat
  float gradient_weight = 1.0f;  // and how much more across an alpha edge
  int small_size = 32;           // levels up to this size (both sides) get small_iterations
  int small_iterations = 10;
  int big_iterations = 2;
  // Levels of more pixels than this solve only the band around unsure alpha (see the .cpp);
  // smaller ones solve every pixel.
  long long band_from_pixels = 256 * 256;
};

struct ForegroundResult {
  std::vector<float> foreground;  // w*h*3, interleaved RGB in [0, 1]
  std::vector<float> background;  // w*h*3
};

// `image`: w*h*3 interleaved RGB in [0, 1]; `alpha`: w*h in [0, 1]. w, h >= 1.
ForegroundResult EstimateForeground(const float* image, const float* alpha, int w, int h,
                                    const ForegroundOptions& options = {});

// The same solve for a whole photo at a cost that follows its soft area: the photo is cut into
// `tile` x `tile` blocks; each block holding alpha strictly between 0 and 255 is solved on its
// own, with `halo` pixels of context on every side (its coarse levels see the colours around
// it), and its soft pixels get the estimated colour. Memory is a few blocks per thread, not
// the photo's size in floats. 8-bit in and out as BlurFusionForeground (blur_fusion.h): `out`
// (w*h*3, not aliasing `rgb`) is the photo with the soft pixels recoloured. Blocks run in
// parallel (OpenMP); the result does not depend on the thread count. Returns the number of
// pixels estimated.
long long EstimateForegroundTiled(const uint8_t* rgb, const uint8_t* alpha, int w, int h,
                                  uint8_t* out, int tile = 256, int halo = 32,
                                  const ForegroundOptions& options = {});

}  // namespace bgerase::matting
