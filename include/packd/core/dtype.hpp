#pragma once
// Scalar types. packd's tensors are templated on their scalar type, drawn from a closed list:
// float and double (differentiable) and int64_t (indices, e.g. argmax). DType names the same
// list at run time, for files and type-erased handles; float16/bfloat16 are storage formats that
// loaders convert on read (room for compute types later).
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace packd {

enum class DType : uint8_t { float32, float64, int64, float16, bfloat16 };

template <class T>
concept Scalar = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int64_t>;

template <class T>
concept FloatScalar = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <Scalar T>
inline constexpr DType dtype_of = std::is_same_v<T, float>    ? DType::float32
                                  : std::is_same_v<T, double> ? DType::float64
                                                              : DType::int64;

constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
  }
  return "unknown";
}

constexpr int64_t dtype_size(DType d) {
  switch (d) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int64: return 8;
    case DType::float16: return 2;
    case DType::bfloat16: return 2;
  }
  return 0;
}

// Accumulator type of reductions: float sums run in double so results do not depend on order.
template <Scalar T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;

}  // namespace packd
