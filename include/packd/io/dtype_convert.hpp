#pragma once
// Converting stored little-endian scalars (float16, bfloat16, float32, float64, int64) to a
// tensor's scalar type. float16/bfloat16 are decoded exactly (every value is representable).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "packd/core/dtype.hpp"
#include "packd/core/error.hpp"

namespace packd::io {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const int exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(float(mant), -24);  // zero or subnormal
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(float(mant | 0x400), exp - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits |= sign;
  std::memcpy(&v, &bits, 4);
  return v;
}

inline float bfloat16_to_float(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// Reads n values of dtype `from` at src into dst. `what` names the data in errors.
template <Scalar T>
void convert_from_bytes(DType from, const uint8_t* src, T* dst, int64_t n, const std::string& what) {
  auto load = [&](auto tag, int64_t i) {
    decltype(tag) v;
    std::memcpy(&v, src + i * int64_t(sizeof(v)), sizeof(v));
    return v;
  };
  if constexpr (std::is_integral_v<T>) {
    PACKD_CHECK(from == DType::int64, what, ": holds ", dtype_name(from), " data, which cannot be read as int64");
  }
  for (int64_t i = 0; i < n; ++i) {
    switch (from) {
      case DType::float32: dst[i] = T(load(float{}, i)); break;
      case DType::float64: dst[i] = T(load(double{}, i)); break;
      case DType::int64: dst[i] = T(load(int64_t{}, i)); break;
      case DType::float16: dst[i] = T(half_to_float(load(uint16_t{}, i))); break;
      case DType::bfloat16: dst[i] = T(bfloat16_to_float(load(uint16_t{}, i))); break;
    }
  }
}

}  // namespace packd::io
