#pragma once
// safetensors files: read and write.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data section that
// follows) plus an optional "__metadata__" object of strings, then the data section.
// The reader checks everything against the file size and the dtype before it trusts it: a
// truncated file, a header that is not JSON, an unknown dtype, offsets outside the data section
// or a byte count that does not match the shape each throw packd::Error naming the file and the
// tensor. Writing is atomic (Note [Atomic writes]).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "packd/io/atomic_file.hpp"
#include "packd/io/dtype_convert.hpp"
#include "packd/tensor.hpp"

namespace packd::io {

// One tensor as stored: its dtype, shape and raw little-endian bytes.
struct RawTensor {
  DType dtype = DType::float32;
  Shape shape;
  std::vector<uint8_t> bytes;

  // The values converted to T (float16/bfloat16/float32/float64 to a float type; int64 to int64
  // or a float type).
  template <Scalar T>
  Tensor<T> to_tensor(const std::string& what = "tensor") const {
    Tensor<T> t = Tensor<T>::empty(shape);
    convert_from_bytes(dtype, bytes.data(), t.data(), t.numel(), what);
    return t;
  }
};

struct SafetensorsFile {
  std::map<std::string, RawTensor> tensors;
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  template <Scalar T>
  Tensor<T> get(const std::string& name) const {
    auto it = tensors.find(name);
    PACKD_CHECK(it != tensors.end(), "safetensors: no tensor named '", name, "' in ", source);
    return it->second.template to_tensor<T>("'" + name + "' in " + source);
  }
  std::string source;  // the path it was read from
};

inline std::string safetensors_dtype_name(DType d) {
  switch (d) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int64: return "I64";
    case DType::float16: return "F16";
    case DType::bfloat16: return "BF16";
  }
  return "?";
}

inline bool parse_safetensors_dtype(const std::string& s, DType& d) {
  static const std::map<std::string, DType> names{{"F32", DType::float32}, {"F64", DType::float64},
                                                  {"I64", DType::int64},   {"F16", DType::float16},
                                                  {"BF16", DType::bfloat16}};
  auto it = names.find(s);
  if (it == names.end()) return false;
  d = it->second;
  return true;
}

// Parses a whole safetensors image held in memory; `path` names it in errors.
inline SafetensorsFile parse_safetensors(const uint8_t* data, std::size_t size, const std::string& path) {
  SafetensorsFile f;
  f.source = path;
  PACKD_CHECK(size >= 8, path, ": not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  PACKD_CHECK(n <= size - 8, path, ": safetensors header length ", n, " runs past the end of the file (", size,
              " bytes); the file is truncated or not safetensors");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data + 8, data + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    PACKD_CHECK(false, path, ": the safetensors header is not valid JSON (", e.what(), ")");
  }
  PACKD_CHECK(header.is_object(), path, ": the safetensors header is not a JSON object");
  const uint8_t* section = data + 8 + n;
  const uint64_t section_size = size - 8 - n;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      PACKD_CHECK(entry.is_object(), path, ": __metadata__ is not an object");
      for (auto& [k, v] : entry.items()) {
        PACKD_CHECK(v.is_string(), path, ": __metadata__ value of '", k, "' is not a string");
        f.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    PACKD_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") && entry.contains("data_offsets"),
                where, " lacks dtype, shape or data_offsets");
    RawTensor t;
    PACKD_CHECK(entry["dtype"].is_string() && parse_safetensors_dtype(entry["dtype"].get<std::string>(), t.dtype), where,
                ": unsupported dtype ", entry["dtype"].dump(), " (packd reads F16, BF16, F32, F64, I64)");
    const auto& shp = entry["shape"];
    PACKD_CHECK(shp.is_array() && shp.size() <= std::size_t(kMaxRank), where, ": shape must be an array of at most ",
                kMaxRank, " extents");
    uint64_t numel = 1;
    for (const auto& e : shp) {
      PACKD_CHECK(e.is_number_unsigned() || (e.is_number_integer() && e.get<int64_t>() >= 0), where,
                  ": negative or non-integer extent ", e.dump());
      const uint64_t ext = e.get<uint64_t>();
      PACKD_CHECK(ext < (uint64_t(1) << 40) && numel * std::max<uint64_t>(ext, 1) < (uint64_t(1) << 48), where,
                  ": shape ", shp.dump(), " is implausibly large");
      numel *= ext;
      t.shape.push_back(int64_t(ext));
    }
    const auto& off = entry["data_offsets"];
    PACKD_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), where,
                ": data_offsets must be two non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    PACKD_CHECK(begin <= end && end <= section_size, where, ": data_offsets [", begin, ", ", end,
                "] fall outside the data section of ", section_size, " bytes (truncated file?)");
    PACKD_CHECK(end - begin == numel * uint64_t(dtype_size(t.dtype)), where, ": ", end - begin, " bytes of data for shape ",
                t.shape, " of ", safetensors_dtype_name(t.dtype), ", which needs ", numel * dtype_size(t.dtype));
    t.bytes.assign(section + begin, section + end);
    f.tensors.emplace(name, std::move(t));
  }
  return f;
}

inline SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  PACKD_CHECK(in.good(), path, ": cannot open for reading");
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  PACKD_CHECK(!in.bad(), path, ": read error");
  return parse_safetensors(buf.data(), buf.size(), path);
}

// Serialises tensors (row-major, little-endian) and metadata into a safetensors image.
inline std::vector<uint8_t> serialize_safetensors(const std::map<std::string, RawTensor>& tensors,
                                                  const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    PACKD_CHECK(name != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
    PACKD_CHECK(t.bytes.size() == std::size_t(t.shape.numel() * dtype_size(t.dtype)), "safetensors: tensor '", name,
                "' has ", t.bytes.size(), " bytes for shape ", t.shape);
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                    {"shape", t.shape.vec()},
                    {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  std::vector<uint8_t> out;
  out.reserve(8 + h.size() + offset);
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(uint64_t(h.size()) >> (8 * i)));
  std::copy(h.begin(), h.end(), std::back_inserter(out));
  for (const auto& [name, t] : tensors) std::copy(t.bytes.begin(), t.bytes.end(), std::back_inserter(out));
  return out;
}

template <Scalar T>
RawTensor raw_tensor(const Tensor<T>& t) {
  RawTensor r;
  r.dtype = dtype_of<T>;
  r.shape = t.shape();
  std::vector<T> v = t.to_vector();
  r.bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(r.bytes.data(), v.data(), r.bytes.size());
  return r;
}

// Writes atomically: a crash leaves either the old file or the new one, never a torn one.
inline void write_safetensors(const std::string& path, const std::map<std::string, RawTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace packd::io
