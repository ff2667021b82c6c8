#pragma once
// stb_image (decoding) and stb_image_write (PNG encoding), compiled into every translation unit
// that includes this header as `static` functions: each TU gets its own internal-linkage copy, so
// two TUs never clash at link time and nothing has to be built separately (packd stays
// header-only). Only packd/data/image.hpp includes it.
//
// The decoder is limited to PNG, JPEG and BMP (PIL reads more, but these are what anomaly-detection
// data sets use; formats such as TGA have no signature, so a stray file could "decode" as one).
// stb's internal assertions throw packd::Error instead of aborting on a malformed file. Debian's
// stb_image is 2.27, which lacks some of 2.28's hardening: image.hpp checks JPEG Huffman tables
// before stb sees them (detail::check_jpeg_tables), and allocations here are zeroed.
//
// A TU that includes this header must not also include stb_image.h / stb_image_write.h itself: the
// include guards would mix packd's static copy with the caller's declarations. Include packd's
// header first and use the stbi_* functions it provides, or keep your own stb in another TU.
#if defined(STBI_INCLUDE_STB_IMAGE_H) || defined(INCLUDE_STB_IMAGE_WRITE_H)
#error "packd/data/detail/stb.hpp: stb_image.h or stb_image_write.h was included before packd's image header; include packd/data/image.hpp first (it provides static stb copies) or keep your own stb in another translation unit"
#endif

#include <cassert>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <climits>

#include "packd/core/error.hpp"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO  // packd reads the file itself (to name the file and the OS error)
#define STBI_NO_LINEAR
// Zeroed allocations: stb 2.27 leaves its JPEG decoder state uninitialised, and a file that uses a
// Huffman table it never defined would read garbage indices; zeroed tables decode as errors.
#define STBI_MALLOC(sz) std::calloc(1, sz)
#define STBI_REALLOC(p, newsz) std::realloc(p, newsz)
#define STBI_FREE(p) std::free(p)
#define STBI_ASSERT(x) \
  ((x) ? (void)0 : ::packd::detail::throw_error("stb_image internal check failed (malformed file?): " #x))
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_ASSERT(x) \
  ((x) ? (void)0 : ::packd::detail::throw_error("stb_image_write internal check failed: " #x))

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-qual"
#endif

#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#elif __has_include(<stb_image.h>)
#include <stb_image.h>
#include <stb_image_write.h>
#else
#error "packd/data/image.hpp needs stb_image.h and stb_image_write.h (Debian/Ubuntu: apt install libstb-dev)"
#endif

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
