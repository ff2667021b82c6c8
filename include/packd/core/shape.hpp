#pragma once
// Shape: an inline small vector of int64 extents (max rank 8), also used for strides and dims.
// Strides are in elements, not bytes. Broadcasting follows NumPy: align trailing dimensions;
// each pair must be equal or one of them 1.
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "packd/core/error.hpp"

namespace packd {

inline constexpr int kMaxRank = 8;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(std::span<const int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }
  static Shape filled(int rank, int64_t v) {
    PACKD_CHECK(rank >= 0 && rank <= kMaxRank, "rank ", rank, " is outside [0, ", kMaxRank, "]");
    Shape s;
    s.rank_ = rank;
    std::fill_n(s.d_.begin(), rank, v);
    return s;
  }

  int size() const { return rank_; }
  bool empty() const { return rank_ == 0; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + rank_; }
  int64_t* begin() { return d_.data(); }
  int64_t* end() { return d_.data() + rank_; }
  int64_t back() const { return d_[rank_ - 1]; }
  const int64_t* data() const { return d_.data(); }

  void push_back(int64_t v) {
    PACKD_CHECK(rank_ < kMaxRank, "tensor rank exceeds the maximum of ", kMaxRank);
    d_[rank_++] = v;
  }
  void insert(int pos, int64_t v) {
    PACKD_CHECK(rank_ < kMaxRank, "tensor rank exceeds the maximum of ", kMaxRank);
    for (int i = rank_; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = v;
    ++rank_;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < rank_; ++i) d_[i] = d_[i + 1];
    --rank_;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= d_[i];
    return n;
  }
  std::vector<int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  template <class It>
  void assign(It first, It last) {
    int64_t n = std::distance(first, last);
    PACKD_CHECK(n <= kMaxRank, "tensor rank ", n, " exceeds the maximum of ", kMaxRank);
    rank_ = static_cast<int>(n);
    std::copy(first, last, d_.begin());
  }
  std::array<int64_t, kMaxRank> d_{};
  int rank_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << '(';
  for (int i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ',';
  return os << ')';
}

inline std::string to_string(const Shape& s) { return detail::concat(s); }

// Row-major (C-contiguous) strides for a shape.
inline Shape contiguous_strides(const Shape& shape) {
  Shape st = Shape::filled(shape.size(), 1);
  for (int i = shape.size() - 2; i >= 0; --i) st[i] = st[i + 1] * std::max<int64_t>(shape[i + 1], 1);
  return st;
}

// Wraps a possibly negative dimension index into [0, rank); names the op in the error.
inline int wrap_dim(int64_t dim, int rank, const char* op) {
  int r = std::max(rank, 1);  // scalars accept dim 0 / -1 as PyTorch does
  PACKD_CHECK(dim >= -r && dim < r, op, ": dimension ", dim, " is out of range for a tensor of rank ", rank);
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

// The NumPy broadcast of two shapes, or an error naming the op and both shapes.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int r = std::max(a.size(), b.size());
  Shape out = Shape::filled(r, 1);
  for (int i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    PACKD_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
                " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace packd
