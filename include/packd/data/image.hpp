#pragma once
// Images: decoding (PNG, JPEG, BMP through stb_image), Pillow's antialiased bilinear resize, the
// RD4AD preprocessing of images and masks (foundations.md §1.2), PNG writing, and heat maps for
// visual reports.
//
// Parity (tests/data/test_image.cpp against tests/reference/make_image_fixtures.py):
//   read_image(p, 3 / 1)    == PIL.Image.open(p).convert('RGB' / 'L') of Pillow 9.4: exact for
//                              PNG (1-16 bit, grey, grey+alpha, palette, RGB, RGBA) and BMP. JPEG
//                              differs by a few levels (stb_image's IDCT and chroma upsampling
//                              are not libjpeg's).
//   resize_bilinear_pillow  == Image.resize((w, h), Image.BILINEAR), exact (uint8).
//   image_to_tensor         == torchvision ToTensor + Normalize(ImageNet mean/std), exact float32.
//   load_image / load_mask  == RD4AD's image / ground-truth transforms at size x size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "packd/backend/cpu/loop.hpp"
#include "packd/backend/cpu/simd.hpp"
#include "packd/data/detail/stb.hpp"
#include "packd/io/atomic_file.hpp"
#include "packd/tensor.hpp"

namespace packd::data {

// An 8-bit image: pixels is (height, width, channels) row-major ("HWC"). channels is 1 (grey,
// PIL's 'L'), 2 (grey + alpha, 'LA'), 3 ('RGB') or 4 ('RGBA').
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;

  // No bounds check (tests and small tools; loops index pixels directly).
  uint8_t& at(int64_t y, int64_t x, int64_t c) { return pixels[std::size_t((y * width + x) * channels + c)]; }
  uint8_t at(int64_t y, int64_t x, int64_t c) const { return pixels[std::size_t((y * width + x) * channels + c)]; }
};

// ImageNet statistics as torchvision's Normalize uses them (float32).
inline constexpr std::array<float, 3> kImagenetMean{0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImagenetStd{0.229f, 0.224f, 0.225f};

namespace detail {

inline void check_image(const Image& im, const std::string& op) {
  PACKD_CHECK(im.height > 0 && im.width > 0 && im.channels >= 1 && im.channels <= 4, op, ": image of ", im.height, "x",
              im.width, "x", im.channels, " (height x width x channels); needs positive sizes and 1 to 4 channels");
  PACKD_CHECK(im.height <= INT_MAX && im.width <= INT_MAX / 4, op, ": image of ", im.height, "x", im.width,
              " is too large");
  PACKD_CHECK(im.pixels.size() == std::size_t(im.height * im.width * im.channels), op, ": image of ", im.height, "x",
              im.width, "x", im.channels, " holds ", im.pixels.size(), " bytes, not ", im.height * im.width * im.channels);
}

// The whole file; errors name the file and the OS's reason.
inline std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PACKD_CHECK(fd >= 0, op, ": ", path, ": cannot open (", std::strerror(errno), ")");
  struct ::stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    PACKD_CHECK(false, op, ": ", path, ": not a regular file");
  }
  std::vector<uint8_t> bytes(std::size_t(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = r < 0 ? errno : 0;
      ::close(fd);
      PACKD_CHECK(false, op, ": ", path, ": read failed after ", done, " of ", bytes.size(), " bytes (",
                  err ? std::strerror(err) : "file shrank", ")");
    }
    done += std::size_t(r);
  }
  ::close(fd);
  return bytes;
}

// Pillow's luma (Convert.c, L24): ITU-R 601-2 weights in 16-bit fixed point, rounded.
inline uint8_t pillow_luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595u + uint32_t(g) * 38470u + uint32_t(b) * 7471u + 0x8000u) >> 16);
}

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

// stb_image 2.27 writes past its Huffman arrays when a JPEG DHT segment declares more than 256
// codes (fixed in 2.28). Walks the JPEG's segments (and skips entropy-coded data between scans)
// and returns what is wrong with a table, or "" (also for anything that is not a JPEG: stb judges
// the rest). Bytes past the end read as 0, as stb reads them.
inline std::string check_jpeg_tables(const uint8_t* p, std::size_t n) {
  if (n < 2 || p[0] != 0xFF || p[1] != 0xD8) return {};
  auto at = [&](std::size_t i) -> unsigned { return i < n ? p[i] : 0u; };
  std::size_t i = 2;
  while (i + 1 < n) {
    if (p[i] != 0xFF) {  // junk between segments: stb scans forward to the next 0xFF, so do we
      ++i;
      continue;
    }
    const unsigned m = p[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0xD9) return {};  // EOI
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // markers without a length
      i += 2;
      continue;
    }
    const std::size_t len = (at(i + 2) << 8) | at(i + 3);
    if (len < 2) return {};
    const std::size_t end = i + 2 + len;
    if (m == 0xC4) {  // DHT: one or more tables of 1 + 16 + (sum of counts) bytes
      std::size_t j = i + 4;
      while (j < end) {
        std::size_t codes = 0;
        for (std::size_t k = 1; k <= 16; ++k) codes += at(j + k);
        if (codes > 256) return "a JPEG Huffman table declares " + std::to_string(codes) + " codes (at most 256)";
        j += 17 + codes;
      }
    }
    i = end;
    if (m == 0xDA) {  // SOS: entropy-coded data follows, up to the next marker that is not RSTn
      while (i + 1 < n && !(p[i] == 0xFF && p[i + 1] != 0x00 && p[i + 1] != 0xFF && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7)))
        ++i;
    }
  }
  return {};
}

}  // namespace detail

// PIL's Image.convert between 'L' (1), 'LA' (2), 'RGB' (3) and 'RGBA' (4): grey is replicated,
// colour goes to grey with Pillow's luma, alpha is dropped (not composited) or added as 255.
inline Image convert_channels(const Image& im, int64_t channels) {
  detail::check_image(im, "convert_channels");
  PACKD_CHECK(channels >= 1 && channels <= 4, "convert_channels: channels must be 1 to 4, got ", channels);
  if (channels == im.channels) return im;
  Image out{im.height, im.width, channels, {}};
  const int64_t n = im.height * im.width, ci = im.channels;
  out.pixels.resize(std::size_t(n * channels));
  const uint8_t* s = im.pixels.data();
  uint8_t* d = out.pixels.data();
  for (int64_t i = 0; i < n; ++i, s += ci, d += channels) {
    const uint8_t grey = ci <= 2 ? s[0] : detail::pillow_luma(s[0], s[1], s[2]);
    const uint8_t alpha = ci == 2 ? s[1] : ci == 4 ? s[3] : uint8_t(255);
    if (channels <= 2) {
      d[0] = grey;
      if (channels == 2) d[1] = alpha;
    } else {
      for (int c = 0; c < 3; ++c) d[c] = ci <= 2 ? grey : s[c];
      if (channels == 4) d[3] = alpha;
    }
  }
  return out;
}

// Decodes a PNG, JPEG or BMP held in memory to `channels` (1 = 'L', 3 = 'RGB', 2 / 4 with
// alpha), as PIL's Image.open(...).convert(mode) does. 16-bit PNGs: colour and grey+alpha keep the
// high byte of each sample (Pillow's unpackers); plain 16-bit grey opens in Pillow as mode 'I',
// whose conversion clips at 255, and packd does the same (min(v, 255): such images mostly come out
// white, exactly as in a PIL pipeline). `name` names the source in errors.
inline Image decode_image(const uint8_t* data, std::size_t size, int64_t channels = 3,
                          const std::string& name = "<memory>") {
  PACKD_CHECK(channels >= 1 && channels <= 4, "read_image: ", name, ": channels must be 1 (L), 3 (RGB), 2 (LA) or 4 (RGBA), got ",
              channels);
  PACKD_CHECK(size > 0, "read_image: ", name, ": empty file");
  PACKD_CHECK(size <= std::size_t(INT_MAX), "read_image: ", name, ": file of ", size, " bytes is too large to decode");
  const int len = int(size);
  const std::string bad_tables = detail::check_jpeg_tables(data, size);
  PACKD_CHECK(bad_tables.empty(), "read_image: ", name, ": corrupt JPEG (", bad_tables, ")");
  int w = 0, h = 0, n = 0;
  PACKD_CHECK(stbi_info_from_memory(data, len, &w, &h, &n), "read_image: ", name,
              ": not a PNG, JPEG or BMP image, or corrupt (stb_image: ", stbi_failure_reason(), ")");
  // Ask for the file's own channel count: stb's own conversions (e.g. its luma) differ from PIL's.
  int w2 = 0, h2 = 0, n2 = 0;
  Image im{h, w, n, {}};
  if (n == 1 && stbi_is_16_bit_from_memory(data, len)) {
    std::unique_ptr<stbi_us, detail::StbFree> p(stbi_load_16_from_memory(data, len, &w2, &h2, &n2, 1));
    PACKD_CHECK(p != nullptr, "read_image: ", name, ": cannot decode (stb_image: ", stbi_failure_reason(), ")");
    PACKD_ASSERT(w2 == w && h2 == h, "stb_image size changed between info and load for ", name);
    im.pixels.resize(std::size_t(int64_t(w) * h));
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = uint8_t(std::min<stbi_us>(p.get()[i], 255));
  } else {
    std::unique_ptr<stbi_uc, detail::StbFree> p(stbi_load_from_memory(data, len, &w2, &h2, &n2, n));
    PACKD_CHECK(p != nullptr, "read_image: ", name, ": cannot decode (stb_image: ", stbi_failure_reason(), ")");
    PACKD_ASSERT(w2 == w && h2 == h, "stb_image size changed between info and load for ", name);
    im.pixels.assign(p.get(), p.get() + int64_t(w) * h * n);
  }
  return convert_channels(im, channels);
}

inline Image decode_image(const std::vector<uint8_t>& bytes, int64_t channels = 3, const std::string& name = "<memory>") {
  return decode_image(bytes.data(), bytes.size(), channels, name);
}

// Reads an image file (see decode_image). Errors (missing, unreadable, truncated, not an image,
// an unsupported format) throw packd::Error naming the file and stb_image's reason.
inline Image read_image(const std::string& path, int64_t channels = 3) {
  const std::vector<uint8_t> bytes = detail::read_file_bytes(path, "read_image");
  return decode_image(bytes, channels, path);
}

// ---- Pillow's bilinear resize ------------------------------------------------------------------
//
// Note [Pillow bilinear]: Image.resize((w, h), BILINEAR) (Pillow 9.4, libImaging/Resample.c) is a
// separable, antialiased filter: on a downscale by s the triangle filter is stretched to support s
// (so every input pixel contributes), on an upscale it is plain bilinear with half-pixel centres.
// Per axis and output index i: centre = (i + 0.5) * in / out; inputs [int(centre - support + 0.5),
// int(centre + support + 0.5)) clipped to the image; weights tri((j - centre + 0.5) / max(s, 1))
// normalised to sum 1 in double, then rounded to fixed point with 22 fractional bits. Pixels are
// sums of uint8 * weight in int32 starting from 0.5, shifted back and clipped to 0..255. The
// horizontal pass runs first, over only the rows the vertical pass will read, into a uint8
// image; a pass whose size does not change is skipped (both: a copy).

namespace detail {

inline constexpr int kPillowPrecisionBits = 32 - 8 - 2;

struct ResampleAxis {
  int64_t taps = 0;              // coefficient stride per output index (Pillow's ksize)
  std::vector<int> first, count;  // input range [first, first + count) of each output index
  std::vector<int32_t> weights;  // (out, taps) fixed point, kPillowPrecisionBits fractional bits
};

inline ResampleAxis pillow_bilinear_axis(int64_t in_size, int64_t out_size) {
  // Image.resize passes the box (0, 0, w, h) as floats: scale = (float(in) - 0.f) / out.
  const double scale = double(float(in_size)) / double(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the bilinear (triangle) filter has support 1
  PACKD_CHECK(support < double(1 << 20), "resize_bilinear_pillow: downscale from ", in_size, " to ", out_size,
              " is too large");
  ResampleAxis ax;
  ax.taps = int64_t(std::ceil(support)) * 2 + 1;
  ax.first.resize(std::size_t(out_size));
  ax.count.resize(std::size_t(out_size));
  ax.weights.assign(std::size_t(out_size * ax.taps), 0);
  std::vector<double> k(std::size_t(ax.taps));
  const double ss = 1.0 / filterscale;
  for (int64_t i = 0; i < out_size; ++i) {
    const double centre = (double(i) + 0.5) * scale;
    const int lo = std::max(int(centre - support + 0.5), 0);  // int(): truncation, as in C
    const int hi = std::min(int(centre + support + 0.5), int(in_size));
    const int n = hi - lo;
    double sum = 0.0;
    for (int j = 0; j < n; ++j) {
      const double t = std::fabs((double(j + lo) - centre + 0.5) * ss);
      k[std::size_t(j)] = t < 1.0 ? 1.0 - t : 0.0;
      sum += k[std::size_t(j)];
    }
    int32_t* w = &ax.weights[std::size_t(i * ax.taps)];
    for (int j = 0; j < n; ++j) {
      const double v = sum != 0.0 ? k[std::size_t(j)] / sum : k[std::size_t(j)];
      const double scaled = v * double(1 << kPillowPrecisionBits);
      w[j] = int32_t(v < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    ax.first[std::size_t(i)] = lo;
    ax.count[std::size_t(i)] = n;
  }
  return ax;
}

inline uint8_t pillow_clip8(int32_t acc) {
  const int32_t v = acc >> kPillowPrecisionBits;  // arithmetic shift (C++20)
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass over `rows` rows of (in_w, C) into (out_w, C). kC = 0: C taken at run time.
template <int kC>
void pillow_rows(const uint8_t* in, int64_t in_w, uint8_t* out, int64_t out_w, int64_t rows, int64_t c_rt,
                 const ResampleAxis& ax) {
  const int64_t C = kC ? kC : c_rt;
  const int64_t work = rows * out_w * C * ax.taps;
  cpu::parallel_chunks(rows, cpu::threads_for(work, 1 << 18), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* src = in + r * in_w * C;
      uint8_t* dst = out + r * out_w * C;
      for (int64_t x = 0; x < out_w; ++x) {
        const int32_t* k = &ax.weights[std::size_t(x * ax.taps)];
        const uint8_t* s = src + int64_t(ax.first[std::size_t(x)]) * C;
        const int n = ax.count[std::size_t(x)];
        int32_t acc[4] = {1 << (kPillowPrecisionBits - 1), 1 << (kPillowPrecisionBits - 1),
                          1 << (kPillowPrecisionBits - 1), 1 << (kPillowPrecisionBits - 1)};
        for (int j = 0; j < n; ++j)
          for (int64_t c = 0; c < C; ++c) acc[c] += int32_t(s[j * C + c]) * k[j];
        for (int64_t c = 0; c < C; ++c) dst[x * C + c] = pillow_clip8(acc[c]);
      }
    }
  });
}

// Vertical pass: rows of `row_len` bytes; output row i mixes input rows [first, first + count).
inline void pillow_columns(const uint8_t* in, uint8_t* out, int64_t out_h, int64_t row_len, const ResampleAxis& ax) {
  const int64_t work = out_h * row_len * ax.taps;
  cpu::parallel_chunks(out_h, cpu::threads_for(work, 1 << 18), [&](int64_t y0, int64_t y1) {
    std::vector<int32_t> acc(static_cast<std::size_t>(row_len));
    for (int64_t y = y0; y < y1; ++y) {
      const int32_t* k = &ax.weights[std::size_t(y * ax.taps)];
      const int64_t first = ax.first[std::size_t(y)];
      const int n = ax.count[std::size_t(y)];
      int32_t* a = acc.data();
      uint8_t* dst = out + y * row_len;
      cpu::simd_run([&] {
        for (int64_t e = 0; e < row_len; ++e) a[e] = 1 << (kPillowPrecisionBits - 1);
        for (int j = 0; j < n; ++j) {
          const uint8_t* s = in + (first + j) * row_len;
          const int32_t kj = k[j];
          for (int64_t e = 0; e < row_len; ++e) a[e] += int32_t(s[e]) * kj;
        }
        for (int64_t e = 0; e < row_len; ++e) dst[e] = pillow_clip8(a[e]);
      });
    }
  });
}

}  // namespace detail

// Pillow 9.4's Image.resize((out_w, out_h), Image.BILINEAR), bit for bit (Note [Pillow bilinear]),
// for any channel count. (Pillow resizes RGBA / LA with premultiplied alpha; this does not, so for
// those it matches Pillow only where alpha is 255. RD4AD resizes 'RGB' and 'L' only.)
inline Image resize_bilinear_pillow(const Image& im, int64_t out_h, int64_t out_w) {
  detail::check_image(im, "resize_bilinear_pillow");
  PACKD_CHECK(out_h >= 1 && out_w >= 1 && out_h <= INT_MAX && out_w <= INT_MAX / 4,
              "resize_bilinear_pillow: output size ", out_h, "x", out_w, " must be positive");
  const bool horizontal = out_w != im.width, vertical = out_h != im.height;
  if (!horizontal && !vertical) return im;
  const int64_t C = im.channels;
  detail::ResampleAxis vax = detail::pillow_bilinear_axis(im.height, out_h);
  Image tmp;
  const Image* src = &im;
  if (horizontal) {
    // Only the rows the vertical pass reads (all of them when it is skipped).
    const int64_t y_first = vax.first.front(), y_last = int64_t(vax.first.back()) + vax.count.back();
    const detail::ResampleAxis hax = detail::pillow_bilinear_axis(im.width, out_w);
    tmp = Image{y_last - y_first, out_w, C, std::vector<uint8_t>(std::size_t((y_last - y_first) * out_w * C))};
    const uint8_t* in = im.pixels.data() + y_first * im.width * C;
    switch (C) {
      case 1: detail::pillow_rows<1>(in, im.width, tmp.pixels.data(), out_w, tmp.height, C, hax); break;
      case 3: detail::pillow_rows<3>(in, im.width, tmp.pixels.data(), out_w, tmp.height, C, hax); break;
      case 4: detail::pillow_rows<4>(in, im.width, tmp.pixels.data(), out_w, tmp.height, C, hax); break;
      default: detail::pillow_rows<0>(in, im.width, tmp.pixels.data(), out_w, tmp.height, C, hax); break;
    }
    for (int& f : vax.first) f -= int(y_first);
    if (!vertical) return tmp;
    src = &tmp;
  }
  Image out{out_h, src->width, C, std::vector<uint8_t>(std::size_t(out_h * src->width * C))};
  detail::pillow_columns(src->pixels.data(), out.pixels.data(), out_h, src->width * C, vax);
  return out;
}

// ---- tensors ------------------------------------------------------------------------------------

// torchvision's ToTensor (float32(v) / 255) and, when imagenet_normalize, Normalize with the
// ImageNet mean and std ((x - mean) / std in float32), bit for bit. Returns (C, H, W) float32;
// normalising needs C == 3.
inline Tensor<float> image_to_tensor(const Image& im, bool imagenet_normalize = true) {
  detail::check_image(im, "image_to_tensor");
  PACKD_CHECK(!imagenet_normalize || im.channels == 3, "image_to_tensor: ImageNet normalisation needs 3 channels, the image has ",
              im.channels, " (convert it with convert_channels(im, 3))");
  const int64_t C = im.channels, n = im.height * im.width;
  Tensor<float> t = Tensor<float>::empty({C, im.height, im.width});  // (C, H, W)
  float* d = t.data();
  for (int64_t c = 0; c < C; ++c) {
    const uint8_t* s = im.pixels.data() + c;
    float* dc = d + c * n;
    if (imagenet_normalize) {
      const float m = kImagenetMean[std::size_t(c)], sd = kImagenetStd[std::size_t(c)];
      for (int64_t i = 0; i < n; ++i) dc[i] = (float(s[i * C]) / 255.0f - m) / sd;
    } else {
      for (int64_t i = 0; i < n; ++i) dc[i] = float(s[i * C]) / 255.0f;
    }
  }
  return t;
}

// RD4AD's image pipeline (foundations.md §1.2): read as RGB, Pillow bilinear resize to
// (size, size), ToTensor, ImageNet Normalize. Returns (1, 3, size, size) float32.
inline Tensor<float> load_image(const std::string& path, int64_t size = 256) {
  PACKD_CHECK(size >= 1, "load_image: ", path, ": size must be positive, got ", size);
  const Image im = resize_bilinear_pillow(read_image(path, 3), size, size);
  return image_to_tensor(im, true).view({1, 3, size, size});
}

// RD4AD's ground-truth pipeline (foundations.md §1.2): read as 'L' (an RGB mask goes through
// Pillow's luma), Pillow bilinear resize to (size, size), then binarised as the evaluation does
// (ToTensor value > 0.5, i.e. resized uint8 >= 128). Returns (1, 1, size, size) float32 of 0 / 1.
// (RD4AD resizes a 1-bit '1' mask with NEAREST, as Pillow does for that mode; packd goes through
// 'L' and bilinear for every mask. MVTec's masks are 8-bit 'L'.)
inline Tensor<float> load_mask(const std::string& path, int64_t size = 256) {
  PACKD_CHECK(size >= 1, "load_mask: ", path, ": size must be positive, got ", size);
  const Image im = resize_bilinear_pillow(read_image(path, 1), size, size);
  Tensor<float> t = Tensor<float>::empty({1, 1, size, size});
  float* d = t.data();
  for (std::size_t i = 0; i < im.pixels.size(); ++i) d[i] = im.pixels[i] >= 128 ? 1.0f : 0.0f;
  return t;
}

// The inverse of image_to_tensor for display: (C, H, W) or (1, C, H, W) float -> uint8 HWC,
// undoing the ImageNet normalisation (C == 3) when asked, then round(v * 255) clipped to 0..255.
inline Image tensor_to_image(const Tensor<float>& t, bool imagenet_denormalize = true) {
  PACKD_CHECK(t.dim() == 3 || (t.dim() == 4 && t.size(0) == 1), "tensor_to_image: expected (C, H, W) or (1, C, H, W), got ",
              t.shape());
  const int64_t C = t.size(-3), H = t.size(-2), W = t.size(-1);
  PACKD_CHECK(C >= 1 && C <= 4 && H > 0 && W > 0, "tensor_to_image: shape ", t.shape(), " needs 1 to 4 channels and a non-empty image");
  PACKD_CHECK(!imagenet_denormalize || C == 3, "tensor_to_image: ImageNet de-normalisation needs 3 channels, shape ", t.shape());
  const std::vector<float> v = t.to_vector();
  Image im{H, W, C, std::vector<uint8_t>(std::size_t(H * W * C))};
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) {
      float x = v[std::size_t(c * H * W + i)];
      if (imagenet_denormalize) x = x * kImagenetStd[std::size_t(c)] + kImagenetMean[std::size_t(c)];
      const float q = std::nearbyint(std::clamp(x, 0.0f, 1.0f) * 255.0f);  // NaN -> 0 below
      im.pixels[std::size_t(i * C + c)] = std::isnan(q) ? uint8_t(0) : uint8_t(q);
    }
  return im;
}

// ---- writing ------------------------------------------------------------------------------------

// PNG bytes of an image (stb_image_write, zlib level 8).
inline std::vector<uint8_t> encode_png(const Image& im) {
  detail::check_image(im, "encode_png");
  std::vector<uint8_t> out;
  auto append = [](void* ctx, void* data, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    const auto* b = static_cast<const uint8_t*>(data);
    v->insert(v->end(), b, b + n);
  };
  const int ok = stbi_write_png_to_func(append, &out, int(im.width), int(im.height), int(im.channels), im.pixels.data(),
                                        int(im.width * im.channels));
  PACKD_CHECK(ok != 0 && !out.empty(), "encode_png: stb_image_write failed for an image of ", im.height, "x", im.width,
              "x", im.channels);
  return out;
}

// Writes a PNG atomically (Note [Atomic writes]): a reader never sees a partial file.
inline void write_png(const std::string& path, const Image& im) {
  detail::check_image(im, "write_png " + path);
  io::write_file_atomic(path, encode_png(im));
}

// ---- heat maps ----------------------------------------------------------------------------------

// The jet colormap (blue -> cyan -> yellow -> red) at t in [0, 1], clamped; NaN is black.
// Piecewise linear: each of R, G, B is a trapezoid 1.5 - |4t - c| clipped to [0, 1], with c = 3, 2, 1.
inline std::array<uint8_t, 3> jet(float t) {
  if (std::isnan(t)) return {0, 0, 0};
  t = std::clamp(t, 0.0f, 1.0f);
  auto ramp = [t](float c) {
    return uint8_t(std::nearbyint(std::clamp(1.5f - std::fabs(4.0f * t - c), 0.0f, 1.0f) * 255.0f));
  };
  return {ramp(3.0f), ramp(2.0f), ramp(1.0f)};
}

namespace detail {
// (H, W) of a map given as (H, W), (1, H, W) or (1, 1, H, W).
inline std::pair<int64_t, int64_t> map_extent(const Tensor<float>& map, const char* op) {
  PACKD_CHECK(map.dim() >= 2, op, ": expected an (H, W) map (leading dimensions of 1 allowed), got ", map.shape());
  for (int d = 0; d + 2 < map.dim(); ++d)
    PACKD_CHECK(map.size(d) == 1, op, ": expected an (H, W) map (leading dimensions of 1 allowed), got ", map.shape());
  PACKD_CHECK(map.size(-2) > 0 && map.size(-1) > 0, op, ": empty map of shape ", map.shape());
  return {map.size(-2), map.size(-1)};
}
}  // namespace detail

// A float map (H, W) as a jet-coloured RGB image; values are mapped linearly from [lo, hi] to
// [0, 1] and clamped (lo == hi maps everything to 0). NaN pixels are black.
inline Image heatmap(const Tensor<float>& map, float lo, float hi) {
  const auto [H, W] = detail::map_extent(map, "heatmap");
  PACKD_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "heatmap: range [", lo, ", ", hi,
              "] must be finite with lo <= hi");
  const std::vector<float> v = map.to_vector();
  Image im{H, W, 3, std::vector<uint8_t>(std::size_t(H * W * 3))};
  const float span = hi - lo;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const float t = span > 0 ? (v[i] - lo) / span : (std::isnan(v[i]) ? v[i] : 0.0f);
    const auto rgb = jet(t);
    std::copy(rgb.begin(), rgb.end(), im.pixels.begin() + std::ptrdiff_t(i * 3));
  }
  return im;
}

// As above over the map's own finite range (min to max).
inline Image heatmap(const Tensor<float>& map) {
  detail::map_extent(map, "heatmap");
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (float x : map.to_vector())
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (lo > hi) lo = hi = 0;  // nothing finite
  return heatmap(map, lo, hi);
}

// base * (1 - alpha) + top * alpha per pixel, rounded; an RGB image of the common size. Grey
// inputs are replicated; alpha channels are ignored.
inline Image overlay(const Image& base, const Image& top, float alpha = 0.5f) {
  detail::check_image(base, "overlay (base)");
  detail::check_image(top, "overlay (top)");
  PACKD_CHECK(base.height == top.height && base.width == top.width, "overlay: base is ", base.height, "x", base.width,
              ", top is ", top.height, "x", top.width, "; resize one to the other's size first");
  PACKD_CHECK(alpha >= 0.0f && alpha <= 1.0f, "overlay: alpha must be in [0, 1], got ", alpha);
  const Image b = convert_channels(base, 3), t = convert_channels(top, 3);
  Image out{base.height, base.width, 3, std::vector<uint8_t>(b.pixels.size())};
  for (std::size_t i = 0; i < out.pixels.size(); ++i)
    out.pixels[i] = uint8_t(std::nearbyint(float(b.pixels[i]) * (1.0f - alpha) + float(t.pixels[i]) * alpha));
  return out;
}

// A map drawn over an image: heatmap(map, lo, hi), resized (Pillow bilinear) to the image's size
// when the sizes differ, then overlay(image, heat, alpha). Used by the visual reports.
inline Image overlay_heatmap(const Image& image, const Tensor<float>& map, float lo, float hi, float alpha = 0.5f) {
  detail::check_image(image, "overlay_heatmap");
  Image heat = heatmap(map, lo, hi);
  if (heat.height != image.height || heat.width != image.width)
    heat = resize_bilinear_pillow(heat, image.height, image.width);
  return overlay(image, heat, alpha);
}

}  // namespace packd::data
