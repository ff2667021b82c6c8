#pragma once
// Connected components of a binary 2-D mask, numbered as skimage.measure.label numbers them:
// 0 is the background, components are 1..count in raster order of their first pixel.
// Connectivity::eight (skimage's default for 2-D, connectivity=2; also OpenCV's and MVTec's
// structure np.ones((3, 3))) joins diagonal neighbours; Connectivity::four (connectivity=1) does not.
//
// Two raster passes over a union-find forest kept in the output array itself:
//   pass 1: every foreground pixel i starts as its own root and is united with its already-visited
//           neighbours (left, and the row above); a union links the larger root index under the
//           smaller one, so parent[i] <= i always and each root is its component's first pixel;
//   pass 2: in raster order, a root gets the next label and any other pixel the (already final)
//           label of its parent, which lies before it and belongs to the same component.
// O(H W α), no allocation beyond the output.
#include <cstdint>
#include <limits>
#include <vector>

#include "packd/core/error.hpp"

namespace packd::eval {

enum class Connectivity { four, eight };

// fg: H*W values, nonzero = foreground (row-major). labels: H*W int32, written.
// Returns the number of components.
inline int32_t label_components(const uint8_t* fg, int64_t H, int64_t W, int32_t* labels,
                                Connectivity connectivity = Connectivity::eight) {
  PACKD_CHECK(H >= 0 && W >= 0, "label_components: negative size ", H, " x ", W);
  PACKD_CHECK(H * W < int64_t(std::numeric_limits<int32_t>::max()), "label_components: ", H, " x ", W,
              " pixels do not fit int32 labels");
  const bool diag = connectivity == Connectivity::eight;
  int32_t* parent = labels;  // the forest lives in the output until pass 2 overwrites it
  auto find = [parent](int32_t x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];  // path halving keeps parent[x] <= x
      x = parent[x];
    }
    return x;
  };
  auto unite = [&](int32_t a, int32_t b) {
    a = find(a), b = find(b);
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
  };
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      const int32_t i = int32_t(y * W + x);
      if (!fg[i]) {
        parent[i] = -1;
        continue;
      }
      parent[i] = i;
      if (x > 0 && fg[i - 1]) unite(i, i - 1);
      if (y > 0) {
        const int32_t up = int32_t(i - W);
        if (fg[up]) unite(i, up);
        if (diag && x > 0 && fg[up - 1]) unite(i, up - 1);
        if (diag && x + 1 < W && fg[up + 1]) unite(i, up + 1);
      }
    }
  }
  int32_t count = 0;
  for (int32_t i = 0; i < int32_t(H * W); ++i) {
    const int32_t p = parent[i];
    labels[i] = p < 0 ? 0 : p == i ? ++count : labels[p];
  }
  return count;
}

// Convenience: labels of a row-major H x W mask (nonzero = foreground).
inline std::vector<int32_t> label_components(const std::vector<uint8_t>& fg, int64_t H, int64_t W,
                                             Connectivity connectivity = Connectivity::eight,
                                             int32_t* count = nullptr) {
  PACKD_CHECK(int64_t(fg.size()) == H * W, "label_components: ", fg.size(), " mask values for ", H, " x ", W, " pixels");
  std::vector<int32_t> labels(fg.size());
  const int32_t n = label_components(fg.data(), H, W, labels.data(), connectivity);
  if (count) *count = n;
  return labels;
}

}  // namespace packd::eval
