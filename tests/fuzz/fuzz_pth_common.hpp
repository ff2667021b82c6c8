#pragma once
// What the .pth fuzz targets run: parse_pth, then flatten_state_dict and a walk over every value
// of the tree (so that each accessor meets whatever the parser let through). Only packd::Error
// may escape the parser; it is the expected outcome for most inputs.
#include "packd/io/pth.hpp"

namespace packd::fuzz {

// Visits at most `budget` values: a tree that shares subtrees can have exponentially many paths.
inline void walk(const io::PyValue& v, std::size_t& budget) {
  using Kind = io::PyValue::Kind;
  if (budget == 0) return;
  --budget;
  switch (v.kind()) {
    case Kind::tuple:
    case Kind::list:
      for (const io::PyValue& x : v.items()) walk(x, budget);
      break;
    case Kind::dict:
      for (const auto& e : v.dict().entries()) walk(e.key, budget), walk(e.value, budget);
      break;
    case Kind::tensor: {
      const io::RawTensor& t = v.tensor();
      if (t.bytes.size() != std::size_t(t.shape.numel() * dtype_size(t.dtype))) __builtin_trap();
      break;
    }
    default: break;
  }
}

inline void parse_pth_and_flatten(const uint8_t* data, std::size_t size) {
  try {
    const io::PyValue root = io::parse_pth(data, size, "fuzz.pth");
    std::size_t budget = 100000;
    walk(root, budget);
    if (root.is_dict()) (void)io::flatten_state_dict(root);
  } catch (const packd::Error&) {
  }
}

}  // namespace packd::fuzz
