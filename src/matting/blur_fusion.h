// Foreground colour under soft alpha, fast: the blur-fusion estimator of Forte and Pitie,
// "Approximate Fast Foreground Colour Estimation" (ICIP 2021), as BiRefNet and BEN2 use it.
// Where alpha is soft the photo holds I = a F + (1 - a) B; with local means of the foreground
// (F weighted by a) and of the background (weighted by 1 - a), the residual the means do not
// explain goes to F in proportion to a:
//     F = Fm + a (I - a Fm - (1 - a) Bm)
// run twice: once with a wide window (the colours of the surrounding subject and background),
// then with a narrow one on the first pass's F and Bm (the local colour at the edge).
//
// Cost follows the soft area: one pass over the image gathers the wide means on a coarse grid of
// cells (their box sums come from a summed-area table, interpolated per pixel); only the tiles
// that hold soft alpha are solved, each with a halo for the narrow window. Sure pixels keep the
// photo's colour: opaque ones are the subject, clear ones are not shown. 8-bit in and out, as
// the pipeline's planes are; the tile loop runs in parallel (OpenMP) and its result does not
// depend on the thread count.
#pragma once

#include <cstdint>

namespace bgerase::matting {

struct BlurFusionOptions {
  int wide_radius = 45;   // the first pass's window is (2 r + 1)^2; 45 is the paper's 90 px
  int narrow_radius = 3;  // the second pass's; 3 is the paper's 6 px
};

// Writes to `out` (w*h*3 interleaved RGB) the photo `rgb` with the estimated foreground colour
// at every pixel whose alpha is strictly between 0 and 255; every other pixel is copied. `out`
// may not alias `rgb`. Returns the number of pixels estimated.
long long BlurFusionForeground(const uint8_t* rgb, const uint8_t* alpha, int w, int h, uint8_t* out,
                               const BlurFusionOptions& options = {});

}  // namespace bgerase::matting
