#pragma once
// Reading PyTorch checkpoints written by torch.save (shared/spec/pth-format.md), in both formats:
//   zip     (the default since PyTorch 1.6): <prefix>/data.pkl, one <prefix>/data/<key> entry of
//           raw little-endian bytes per storage, <prefix>/version, maybe <prefix>/byteorder;
//   legacy  (_use_new_zipfile_serialization=False, and files from before 1.6): five pickles in a
//           row (magic number, protocol version 1001, system info, the object, the storage keys)
//           followed, per key, by an int64 element count and the storage's raw bytes.
// The format is told by content, not by the file name. parse_pth returns the saved object as a
// PyValue tree (dicts, lists, tuples, scalars, strings) whose tensors are contiguous RawTensor
// copies: each view (storage offset, size, stride) is checked to lie inside its storage, so
// shared storages, slices, transposes and expanded tensors all load. Loading never runs code from
// the file (pickle.hpp). flatten_state_dict turns a (nested) state_dict into dotted names.
#include <bit>
#include <cstdint>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "packd/io/pickle.hpp"
#include "packd/io/safetensors.hpp"
#include "packd/io/zip.hpp"

namespace packd::io {

static_assert(std::endian::native == std::endian::little,
              "packd's .pth and safetensors readers copy little-endian data as is");

enum class PthFormat : uint8_t { zip, legacy, unknown };

namespace detail {

inline std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  PACKD_CHECK(in.good(), path, ": cannot open for reading");
  const std::streamoff size = in.tellg();
  PACKD_CHECK(size >= 0, path, ": cannot determine the file size");
  std::vector<uint8_t> buf(static_cast<std::size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(buf.size()));
  PACKD_CHECK(in.gcount() == std::streamsize(buf.size()), path, ": read error (got ", in.gcount(), " of ", size, " bytes)");
  return buf;
}

// The legacy format's first pickle is the magic number 0x1950a86a20f9469cfc6c (LONG1, 10 bytes)
// and STOP, after PROTO (2 by default) and, for protocol 4+, a FRAME. Returns the position after
// it, or 0 when the data does not start that way.
inline std::size_t legacy_magic_end(const uint8_t* d, std::size_t n) {
  static constexpr uint8_t magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  if (n < 2 || d[0] != 0x80 || d[1] < 2 || d[1] > 5) return 0;
  std::size_t p = 2;
  if (p < n && d[p] == 0x95) p += 9;  // FRAME + 8-byte length
  if (n < p || n - p < sizeof(magic) || std::memcmp(d + p, magic, sizeof(magic)) != 0) return 0;
  return p + sizeof(magic);
}

inline bool looks_like_safetensors(const uint8_t* d, std::size_t n) {
  return n >= 10 && le64(d) >= 2 && le64(d) <= n - 8 && d[8] == '{';
}

// What a file that is not a .pth file looks like, for the error message.
inline std::string describe_contents(const uint8_t* d, std::size_t n) {
  auto starts = [&](std::string_view s) { return n >= s.size() && std::memcmp(d, s.data(), s.size()) == 0; };
  if (n == 0) return "an empty file";
  if (looks_like_safetensors(d, n)) return "a safetensors file (read it with load_weights or read_safetensors)";
  if (starts("PK")) return "a zip archive that does not start with a local file header (corrupt?)";
  if (starts("\x1f\x8b")) return "gzip-compressed data (decompress it first)";
  if (n >= 262 && std::memcmp(d + 257, "ustar", 5) == 0)
    return "a tar archive (a checkpoint from PyTorch before 0.4?), which packd does not read";
  if (starts("version https://git-lfs")) return "a Git LFS pointer, not the weights (fetch them with git lfs pull)";
  if (starts("\x93NUMPY")) return "a NumPy .npy file";
  if (starts("\x89HDF")) return "an HDF5 file";
  if (starts("<") || starts("\xef\xbb\xbf<")) return "an HTML or XML page (a failed download?)";
  if (d[0] == 0x80)
    return "a Python pickle that does not start with torch.save's magic number (not a torch.save file, or cut "
           "short within its first bytes)";
  std::string hex;
  for (std::size_t i = 0; i < n && i < 8; ++i) {
    hex += "0123456789abcdef"[d[i] >> 4];
    hex += "0123456789abcdef"[d[i] & 15];
    hex += ' ';
  }
  return "nothing packd knows (first bytes: " + hex.substr(0, hex.size() - 1) + ")";
}

inline bool checked_mul(int64_t a, int64_t b, int64_t& out) { return !__builtin_mul_overflow(a, b, &out); }
inline bool checked_add(int64_t a, int64_t b, int64_t& out) { return !__builtin_add_overflow(a, b, &out); }

// Reads element `i` of a storage of type `t` widened to int64 (int32/16/8, uint8, bool).
inline int64_t load_widened(StorageType t, const uint8_t* p) {
  switch (t) {
    case StorageType::int32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case StorageType::int16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case StorageType::int8: return int8_t(p[0]);
    case StorageType::uint8: return p[0];
    case StorageType::boolean: return p[0] != 0;
    default: break;
  }
  PACKD_ASSERT(false, "load_widened on a storage that is not widened");
  return 0;
}

// Makes each tensor view a contiguous RawTensor. `storage_bytes[i]` holds storages[i]'s bytes,
// already checked to be numel * element size long.
class TensorMaterializer {
 public:
  TensorMaterializer(const std::vector<StorageRef>& storages, std::vector<std::span<const uint8_t>> storage_bytes,
                     std::string source, uint64_t budget)
      : storages_(storages), bytes_(std::move(storage_bytes)), source_(std::move(source)), budget_(budget) {}

  RawTensor operator()(const TensorRef& t, const std::string& name) {
    const StorageRef& s = storages_[t.storage];
    const std::string where = source_ + ": tensor '" + name + "'";
    const int rank = int(t.size.size());
    int64_t numel = 1, last = t.offset;  // last: the furthest storage element the view reaches
    bool ok = true;
    for (int d = 0; d < rank; ++d) ok = ok && checked_mul(numel, t.size[std::size_t(d)], numel);
    if (numel > 0)
      for (int d = 0; d < rank; ++d) {
        int64_t reach = 0;
        ok = ok && checked_mul(t.size[std::size_t(d)] - 1, t.stride[std::size_t(d)], reach) && checked_add(last, reach, last);
      }
    PACKD_CHECK(ok, where, ": size ", vec(t.size), " with stride ", vec(t.stride), " overflows");
    PACKD_CHECK(numel == 0 || last < s.numel, where, ": storage '", s.key, "' (", s.numel, " elements) is shorter than its tensor",
                " (offset ", t.offset, ", size ", vec(t.size), ", stride ", vec(t.stride), " reach element ", last, ")");
    const StorageClass& cls = *s.cls;
    const int64_t out_size = dtype_size(cls.loads_as);
    int64_t out_bytes = 0;
    PACKD_CHECK(checked_mul(numel, out_size, out_bytes) && uint64_t(out_bytes) <= budget_, where, ": ", numel,
                " elements would exceed the memory packd allows for this file's tensors (at most 4x the file size + "
                "64 MiB: expanded views of a small storage?)");
    budget_ -= uint64_t(out_bytes);

    RawTensor r;
    r.dtype = cls.loads_as;
    r.shape = Shape(t.size);
    r.bytes.resize(std::size_t(out_bytes));
    if (numel == 0) return r;
    const uint8_t* src = bytes_[t.storage].data();
    uint8_t* dst = r.bytes.data();
    const bool widen = cls.elem_size != out_size;  // the integer and bool storages become int64
    // A run of n elements starting at storage element `at`, `step` apart.
    auto copy_run = [&](int64_t at, int64_t n, int64_t step) {
      if (!widen && (step == 1 || n == 1)) {
        std::memcpy(dst, src + at * cls.elem_size, std::size_t(n * out_size));
        dst += n * out_size;
        return;
      }
      for (int64_t i = 0; i < n; ++i, at += step, dst += out_size) {
        if (widen) {
          const int64_t v = load_widened(cls.type, src + at * cls.elem_size);
          std::memcpy(dst, &v, 8);
        } else {
          std::memcpy(dst, src + at * cls.elem_size, std::size_t(out_size));
        }
      }
    };
    if (is_contiguous(t) || rank == 0) {
      copy_run(t.offset, numel, 1);
      return r;
    }
    // Odometer over all dimensions but the last; each step copies one row.
    const int64_t inner = t.size.back(), inner_stride = t.stride.back();
    std::vector<int64_t> idx(std::size_t(rank - 1), 0);
    int64_t base = t.offset;
    for (int64_t done = 0; done < numel; done += inner) {
      copy_run(base, inner, inner_stride);
      for (int d = rank - 2; d >= 0; --d) {
        const std::size_t k = std::size_t(d);
        if (++idx[k] < t.size[k]) {
          base += t.stride[k];
          break;
        }
        base -= (t.size[k] - 1) * t.stride[k];
        idx[k] = 0;
      }
    }
    return r;
  }

 private:
  static bool is_contiguous(const TensorRef& t) {
    int64_t expected = 1;
    for (std::size_t d = t.size.size(); d-- > 0;) {
      if (t.size[d] != 1 && t.stride[d] != expected) return false;
      expected *= t.size[d];
    }
    return true;
  }
  static std::string vec(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  }

  const std::vector<StorageRef>& storages_;
  std::vector<std::span<const uint8_t>> bytes_;
  std::string source_;
  uint64_t budget_;
};

// Tensors may materialise at most 4x the file size + 64 MiB in all: only overlapping views
// (expand, stride 0) can exceed the file size, and a hostile file must not allocate without end.
inline uint64_t materialize_budget(std::size_t file_size) { return 4 * uint64_t(file_size) + (uint64_t(64) << 20); }

inline int64_t storage_bytes(const StorageRef& s, const std::string& source) {
  int64_t n = 0;
  PACKD_CHECK(checked_mul(s.numel, s.cls->elem_size, n), source, ": storage '", s.key, "' has an implausible element count ",
              s.numel);
  return n;
}

inline PyValue parse_pth_zip(const uint8_t* data, std::size_t size, const std::string& name) {
  ZipArchive zip(data, size, name);
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip.entries())
    if (e.name == "data.pkl" || e.name.ends_with("/data.pkl")) {
      pkl = &e;
      break;
    }
  PACKD_CHECK(pkl != nullptr, name, ": a zip archive without a data.pkl record, so not a torch.save file");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);  // "<prefix>/" (any name: never assumed)
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::span<const uint8_t> b = zip.read(*order);
    const std::string s(b.begin(), b.end());
    PACKD_CHECK(s == "little", name, ": the tensors are stored in byte order '", s.substr(0, 16),
                "'; packd reads only little-endian checkpoints (load and re-save the file on a little-endian machine)");
  }
  const std::span<const uint8_t> pickle = zip.read(*pkl);
  Unpickler u(pickle.data(), pickle.size(), name + ": " + pkl->name, PersistentIds::zip);
  u.load(0);
  std::vector<std::span<const uint8_t>> bytes;
  for (const StorageRef& s : u.storages()) {
    const std::string entry = prefix + "data/" + s.key;
    const ZipEntry* e = zip.find(entry);
    PACKD_CHECK(e != nullptr, name, ": storage '", s.key, "' (", s.numel, " elements of torch.", s.cls->name,
                ") has no entry '", entry, "' in the archive (truncated or corrupt file)");
    const std::span<const uint8_t> b = zip.read(*e);
    const int64_t need = storage_bytes(s, name);
    PACKD_CHECK(b.size() == uint64_t(need), name, ": zip entry '", entry, "' holds ", b.size(), " bytes, but storage '",
                s.key, "' is ", s.numel, " elements of torch.", s.cls->name, " (", need,
                " bytes); the entry is truncated or corrupt");
    bytes.push_back(b);
  }
  TensorMaterializer make(u.storages(), std::move(bytes), name, materialize_budget(size));
  return u.value([&make](const TensorRef& t, const std::string& n) { return make(t, n); });
}

inline PyValue parse_pth_legacy(const uint8_t* data, std::size_t size, const std::string& name) {
  std::size_t pos = legacy_magic_end(data, size);
  PACKD_CHECK(pos != 0, name, ": does not start with the legacy torch.save magic number");
  auto next = [&](const char* what, PersistentIds ids) {
    Unpickler u(data, size, name + " (" + what + ")", ids);
    pos = u.load(pos);
    return u;
  };
  const PyValue version = next("protocol version", PersistentIds::none).value();
  PACKD_CHECK(version.is_int() && version.as_int() == 1001, name, ": legacy protocol version ",
              version.is_int() ? std::to_string(version.as_int()) : version.type_name(), " (packd reads 1001)");
  const PyValue sys_info = next("system info", PersistentIds::none).value();
  PACKD_CHECK(sys_info.is_dict(), name, ": the legacy system-info record is a ", sys_info.type_name(), ", not a dict");
  if (const PyValue* little = sys_info.dict().find("little_endian"))
    PACKD_CHECK(little->kind() == PyValue::Kind::boolean && little->as_bool(), name,
                ": saved on a big-endian machine; packd reads only little-endian checkpoints");
  Unpickler object = next("object", PersistentIds::legacy);
  const PyValue keys = next("storage keys", PersistentIds::none).value();
  PACKD_CHECK(keys.kind() == PyValue::Kind::list, name, ": the legacy storage-key record is a ", keys.type_name(), ", not a list");

  // After the key list: per key, int64 numel then numel * element size bytes, no padding.
  const std::vector<StorageRef>& storages = object.storages();
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < storages.size(); ++i) index.emplace(storages[i].key, i);
  std::vector<std::span<const uint8_t>> bytes(storages.size());
  std::vector<bool> seen(storages.size(), false);
  for (const PyValue& k : keys.items()) {
    PACKD_CHECK(k.is_string(), name, ": the legacy storage-key list holds a ", k.type_name());
    const std::string& key = k.as_string();
    auto it = index.find(key);
    PACKD_CHECK(it != index.end(), name, ": storage '", key, "' in the key list is used by no tensor (corrupt file)");
    PACKD_CHECK(!seen[it->second], name, ": storage '", key, "' appears twice in the key list");
    seen[it->second] = true;
    const StorageRef& s = storages[it->second];
    PACKD_CHECK(size - pos >= 8, name, ": the file ends before storage '", key, "' (byte ", pos, " of ", size,
                "); the file is truncated");
    const int64_t numel = int64_t(le64(data + pos));
    pos += 8;
    PACKD_CHECK(numel == s.numel, name, ": storage '", key, "' has ", numel, " elements in the file, but its tensors say ",
                s.numel, " (corrupt file)");
    const int64_t need = storage_bytes(s, name);
    PACKD_CHECK(uint64_t(need) <= size - pos, name, ": storage '", key, "' needs ", need, " bytes at byte ", pos,
                ", past the end of the file (", size, " bytes); the file is truncated");
    bytes[it->second] = {data + pos, std::size_t(need)};
    pos += std::size_t(need);
  }
  for (std::size_t i = 0; i < storages.size(); ++i)
    PACKD_CHECK(seen[i], name, ": storage '", storages[i].key, "' is used by a tensor but missing from the key list");
  PACKD_CHECK(pos == size, name, ": ", size - pos, " unexpected bytes after the last storage (corrupt file?)");
  TensorMaterializer make(storages, std::move(bytes), name, materialize_budget(size));
  return object.value([&make](const TensorRef& t, const std::string& n) { return make(t, n); });
}

inline void flatten_into(const PyValue& v, const std::string& name, std::map<std::string, RawTensor>& out,
                         std::size_t& visits) {
  // Shared sub-dicts are visited once per path; this bounds a hostile tree of shared dicts.
  PACKD_CHECK(++visits <= (std::size_t(1) << 22), "flatten_state_dict: the checkpoint's dicts reach more than 4M "
              "entries (dicts shared many times over?)");
  if (v.is_tensor()) {
    PACKD_CHECK(out.emplace(name, v.tensor()).second, "flatten_state_dict: two entries flatten to the name '", name, "'");
    return;
  }
  if (!v.is_dict()) return;  // ints, strings, lists, ...: not tensors of a state_dict
  for (const PyValue::Dict::Entry& e : v.dict().entries()) {
    const std::string key = e.key.is_string() ? e.key.as_string() : std::to_string(e.key.as_int());
    flatten_into(e.value, name.empty() ? key : name + "." + key, out, visits);
  }
}

}  // namespace detail

inline PthFormat detect_pth_format(const uint8_t* data, std::size_t size) {
  if (size >= 4 && std::memcmp(data, "PK\x03\x04", 4) == 0) return PthFormat::zip;
  if (detail::legacy_magic_end(data, size) != 0) return PthFormat::legacy;
  return PthFormat::unknown;
}

// The object torch.save wrote into data[0, size); `name` names it in errors.
inline PyValue parse_pth(const uint8_t* data, std::size_t size, const std::string& name) {
  switch (detect_pth_format(data, size)) {
    case PthFormat::zip: return detail::parse_pth_zip(data, size, name);
    case PthFormat::legacy: return detail::parse_pth_legacy(data, size, name);
    case PthFormat::unknown: break;
  }
  PACKD_CHECK(false, name, ": not a PyTorch .pth file: it looks like ", detail::describe_contents(data, size));
  return {};
}

inline PyValue load_pth(const std::string& path) {
  const std::vector<uint8_t> bytes = detail::read_file_bytes(path);
  return parse_pth(bytes.data(), bytes.size(), path);
}

// The tensors of a (nested) state_dict by dotted name: {'bn': {'conv1.weight': t}, 'epoch': 3}
// gives {"bn.conv1.weight": t}. Dicts are followed (int keys become "0", "1", ...); tensors are
// kept; everything else (ints, strings, lists, tuples) is skipped. A root tensor needs a prefix.
inline std::map<std::string, RawTensor> flatten_state_dict(const PyValue& root, const std::string& prefix = "") {
  PACKD_CHECK(root.is_dict() || (root.is_tensor() && !prefix.empty()), "flatten_state_dict: the checkpoint holds a ",
              root.type_name(), ", not a dict of tensors");
  std::map<std::string, RawTensor> out;
  std::size_t visits = 0;
  detail::flatten_into(root, prefix, out, visits);
  return out;
}

// The dict reached from `root` by the keys in `path` (e.g. {"state_dict"} or {"model", "encoder"});
// a missing key is an error listing the keys that are there. `source` names the file in errors.
inline const PyValue& select_dict(const PyValue& root, const std::vector<std::string>& path,
                                  const std::string& source = "checkpoint") {
  const PyValue* v = &root;
  std::string at;  // the dotted path so far
  for (const std::string& key : path) {
    const std::string where = at.empty() ? "the top level" : "'" + at + "'";
    PACKD_CHECK(v->is_dict(), source, ": ", where, " is a ", v->type_name(), ", not a dict, so it has no key '", key, "'");
    const PyValue* next = v->dict().find(key);
    if (next == nullptr && !key.empty() && key.size() < 19 && key.find_first_not_of("0123456789") == std::string::npos)
      next = v->dict().find(int64_t(std::stoll(key)));  // int keys, e.g. an optimizer's state
    PACKD_CHECK(next != nullptr, source, ": no key '", key, "' in ", where, "; the keys there are ",
                v->dict().describe_keys());
    v = next;
    at += (at.empty() ? "" : ".") + key;
  }
  PACKD_CHECK(v->is_dict(), source, ": ", at.empty() ? "the top level" : "'" + at + "'", " is a ", v->type_name(),
              ", not a dict");
  return *v;
}

}  // namespace packd::io
