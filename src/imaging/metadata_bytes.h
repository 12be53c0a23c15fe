// Byte-level helpers for metadata blobs (EXIF, XMP, ICC) that libvips hands over as opaque
// bytes. Internal to imaging/; exposed in a header so tests can pin them down.
#pragma once

#include <string>
#include <string_view>

namespace bgerase::imaging::internal {

// Sets the EXIF IFD0 Orientation tag to 1 in place (the pixels have been rotated upright).
// Accepts the blob with or without the "Exif\0\0" prefix. Returns false if the blob has no
// Orientation tag or is malformed; the blob is then left unchanged.
bool ResetExifOrientation(std::string* exif);

// Rewrites every tiff:Orientation value in an XMP packet to 1, keeping its length. Returns
// true if one was found.
bool ResetXmpOrientation(std::string* xmp);

// The colour space an ICC profile describes, from its header.
enum class IccSpace { kRgb, kGray, kCmyk, kOther };
IccSpace IccProfileSpace(std::string_view icc);

// True for a profile whose description names sRGB: its pixels need no conversion to or from
// our working space, which saves a full-resolution colour transform for the usual photo.
bool IccProfileIsSrgb(std::string_view icc);

// Removes the EXIF, XMP and ICCP chunks from a WebP file and clears their VP8X flags. libvips
// 8.14's webpsave writes a minimal EXIF chunk even when asked to strip. Returns false (leaving
// the bytes unchanged) if the RIFF structure is not as expected.
bool StripWebpMetadata(std::string* webp);

// The name (common/image_formats.h) of the format a file's first bytes tell, or an empty
// string. Tells a damaged file of a format we take from a file that is not one at all.
std::string_view SniffFormat(std::string_view bytes);

}  // namespace bgerase::imaging::internal
