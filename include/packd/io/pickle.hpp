#pragma once
// A restricted unpickler for the pickles inside torch.save files (shared/spec/pth-format.md).
//
// It understands the opcodes PyTorch's pickler emits for state_dicts and plain checkpoint dicts
// (protocol 2, plus the protocol 4 forms: FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL) and
// knows a fixed set of globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and the torch.<X>Storage classes. Nothing from the file is ever
// called: REDUCE on a known global is interpreted here, and any other global, opcode, or malformed
// or oversized input throws packd::Error naming the file, the byte offset and the opcode or global.
//
// Objects live in an arena indexed by integers while the pickle runs, because pickles mutate
// objects after memoising them (MARK ... SETITEMS on a memoised dict) and may build cycles
// (a list appended to itself). The value tree is made afterwards: shared objects stay shared,
// cycles and nesting deeper than kMaxDepth are refused, and each tensor is materialised once by
// a callback (the container format knows where storage bytes are).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "packd/io/safetensors.hpp"

namespace packd::io {

// A Python value from a checkpoint: None, bool, int (64-bit), float, str, tuple, list, dict
// (ordered; string or int keys), a known global (its "module.name"), or a tensor. Copies share
// containers and tensors, as Python references do.
class PyValue {
 public:
  enum class Kind : uint8_t { none, boolean, integer, floating, string, tuple, list, dict, global, tensor };
  class Dict;
  using Items = std::vector<PyValue>;

  PyValue() = default;
  static PyValue from_bool(bool b) { return PyValue(Kind::boolean, int64_t(b)); }
  static PyValue from_int(int64_t i) { return PyValue(Kind::integer, i); }
  static PyValue from_float(double f) { return PyValue(Kind::floating, f); }
  static PyValue from_string(std::string s) { return PyValue(Kind::string, std::make_shared<const std::string>(std::move(s))); }
  static PyValue make_global(std::string qualified_name) {
    return PyValue(Kind::global, std::make_shared<const std::string>(std::move(qualified_name)));
  }
  static PyValue make_tuple(Items items) { return PyValue(Kind::tuple, std::make_shared<const Items>(std::move(items))); }
  static PyValue make_list(Items items) { return PyValue(Kind::list, std::make_shared<const Items>(std::move(items))); }
  static PyValue make_dict(Dict d);
  static PyValue make_tensor(RawTensor t) { return PyValue(Kind::tensor, std::make_shared<const RawTensor>(std::move(t))); }

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_int() const { return kind_ == Kind::integer; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_tensor() const { return kind_ == Kind::tensor; }

  bool as_bool() const {
    PACKD_CHECK(kind_ == Kind::boolean, "pickle: expected a bool, got ", type_name());
    return std::get<int64_t>(v_) != 0;
  }
  int64_t as_int() const {
    PACKD_CHECK(kind_ == Kind::integer, "pickle: expected an int, got ", type_name());
    return std::get<int64_t>(v_);
  }
  double as_float() const {  // an int is accepted, as Python would
    PACKD_CHECK(kind_ == Kind::floating || kind_ == Kind::integer, "pickle: expected a float, got ", type_name());
    return kind_ == Kind::integer ? double(std::get<int64_t>(v_)) : std::get<double>(v_);
  }
  const std::string& as_string() const {
    PACKD_CHECK(kind_ == Kind::string, "pickle: expected a str, got ", type_name());
    return *std::get<StringPtr>(v_);
  }
  const std::string& global_name() const {
    PACKD_CHECK(kind_ == Kind::global, "pickle: expected a global, got ", type_name());
    return *std::get<StringPtr>(v_);
  }
  const Items& items() const {  // of a tuple or a list
    PACKD_CHECK(kind_ == Kind::tuple || kind_ == Kind::list, "pickle: expected a tuple or list, got ", type_name());
    return *std::get<ItemsPtr>(v_);
  }
  const Dict& dict() const {
    PACKD_CHECK(kind_ == Kind::dict, "pickle: expected a dict, got ", type_name());
    return *std::get<DictPtr>(v_);
  }
  const RawTensor& tensor() const {
    PACKD_CHECK(kind_ == Kind::tensor, "pickle: expected a tensor, got ", type_name());
    return *std::get<TensorPtr>(v_);
  }

  std::string type_name() const {
    switch (kind_) {
      case Kind::none: return "None";
      case Kind::boolean: return "bool";
      case Kind::integer: return "int";
      case Kind::floating: return "float";
      case Kind::string: return "str";
      case Kind::tuple: return "tuple";
      case Kind::list: return "list";
      case Kind::dict: return "dict";
      case Kind::global: return "global " + global_name();
      case Kind::tensor: return "tensor";
    }
    return "?";
  }

 private:
  using StringPtr = std::shared_ptr<const std::string>;
  using ItemsPtr = std::shared_ptr<const Items>;
  using DictPtr = std::shared_ptr<const Dict>;
  using TensorPtr = std::shared_ptr<const RawTensor>;

  template <class V>
  PyValue(Kind k, V v) : kind_(k), v_(std::move(v)) {}

  Kind kind_ = Kind::none;
  std::variant<std::monostate, int64_t, double, StringPtr, ItemsPtr, DictPtr, TensorPtr> v_;
};

// A dict in insertion order (Python dicts and OrderedDicts alike). Keys are str or int; setting
// an existing key replaces its value in place, as in Python.
class PyValue::Dict {
 public:
  struct Entry {
    PyValue key;
    PyValue value;
  };
  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }

  const PyValue* find(const std::string& key) const {
    auto it = by_string_.find(key);
    return it == by_string_.end() ? nullptr : &entries_[it->second].value;
  }
  const PyValue* find(int64_t key) const {
    auto it = by_int_.find(key);
    return it == by_int_.end() ? nullptr : &entries_[it->second].value;
  }

  void set(PyValue key, PyValue value) {
    PACKD_CHECK(key.kind() == Kind::string || key.kind() == Kind::integer, "pickle: a dict key of type ",
                key.type_name(), " is not supported (only str and int keys)");
    const std::size_t next = entries_.size();
    std::size_t at = next;
    bool fresh = false;
    if (key.is_string()) {
      const auto [it, inserted] = by_string_.emplace(key.as_string(), next);
      at = it->second, fresh = inserted;
    } else {
      const auto [it, inserted] = by_int_.emplace(key.as_int(), next);
      at = it->second, fresh = inserted;
    }
    if (fresh) {
      entries_.push_back({std::move(key), std::move(value)});
    } else {
      entries_[at].value = std::move(value);
    }
  }

  // The keys as text ('name' or 3), for error messages; at most `limit` of them.
  std::string describe_keys(std::size_t limit = 20) const {
    std::string out;
    for (std::size_t i = 0; i < entries_.size() && i < limit; ++i) {
      if (i) out += ", ";
      const PyValue& k = entries_[i].key;
      out += k.is_string() ? "'" + k.as_string() + "'" : std::to_string(k.as_int());
    }
    if (entries_.size() > limit) out += ", ... (" + std::to_string(entries_.size()) + " keys)";
    return entries_.empty() ? "none: the dict is empty" : out;
  }

 private:
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t> by_string_;
  std::map<int64_t, std::size_t> by_int_;
};

inline PyValue PyValue::make_dict(Dict d) { return PyValue(Kind::dict, std::make_shared<const Dict>(std::move(d))); }

// The storage classes torch.save names in persistent ids, with their element types. packd keeps
// float32/float64/float16/bfloat16/int64 as they are and widens the other integer and bool
// storages to int64 (exactly; bool becomes 0/1).
enum class StorageType : uint8_t { float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, boolean };

struct StorageClass {
  std::string_view name;  // e.g. "FloatStorage" (module torch)
  StorageType type;
  int elem_size;  // bytes per element in the file
  DType loads_as;
};

inline const StorageClass* find_storage_class(std::string_view name) {
  static constexpr StorageClass classes[] = {
      {"FloatStorage", StorageType::float32, 4, DType::float32},   {"DoubleStorage", StorageType::float64, 8, DType::float64},
      {"HalfStorage", StorageType::float16, 2, DType::float16},    {"BFloat16Storage", StorageType::bfloat16, 2, DType::bfloat16},
      {"LongStorage", StorageType::int64, 8, DType::int64},        {"IntStorage", StorageType::int32, 4, DType::int64},
      {"ShortStorage", StorageType::int16, 2, DType::int64},       {"CharStorage", StorageType::int8, 1, DType::int64},
      {"ByteStorage", StorageType::uint8, 1, DType::int64},        {"BoolStorage", StorageType::boolean, 1, DType::int64}};
  for (const StorageClass& c : classes)
    if (c.name == name) return &c;
  return nullptr;
}

// One storage, as a persistent id names it.
struct StorageRef {
  std::string key;  // zip: entry <prefix>/data/<key>; legacy: its place in the key list
  const StorageClass* cls = nullptr;
  int64_t numel = 0;     // elements, not bytes
  std::string location;  // 'cpu', 'cuda:0', ...: everything loads to the host
};

// One _rebuild_tensor_v2 call: a view (offset, size, stride, all in elements) into a storage.
struct TensorRef {
  std::size_t storage = 0;  // index into Unpickler::storages()
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

// How BINPERSID persistent ids look: none allowed, the zip format's 5-tuple
// ('storage', cls, key, location, numel), or the legacy 6-tuple with a trailing view_metadata
// that must be None.
enum class PersistentIds : uint8_t { none, zip, legacy };

namespace detail {

inline const char* pickle_opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";           case '.': return "STOP";          case '0': return "POP";
    case '1': return "POP_MARK";       case '2': return "DUP";           case 'F': return "FLOAT";
    case 'I': return "INT";            case 'J': return "BININT";        case 'K': return "BININT1";
    case 'L': return "LONG";           case 'M': return "BININT2";       case 'N': return "NONE";
    case 'P': return "PERSID";         case 'Q': return "BINPERSID";     case 'R': return "REDUCE";
    case 'S': return "STRING";         case 'T': return "BINSTRING";     case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";        case 'X': return "BINUNICODE";    case 'a': return "APPEND";
    case 'b': return "BUILD";          case 'c': return "GLOBAL";        case 'd': return "DICT";
    case '}': return "EMPTY_DICT";     case 'e': return "APPENDS";       case 'g': return "GET";
    case 'h': return "BINGET";         case 'i': return "INST";          case 'j': return "LONG_BINGET";
    case 'l': return "LIST";           case ']': return "EMPTY_LIST";    case 'o': return "OBJ";
    case 'p': return "PUT";            case 'q': return "BINPUT";        case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";        case 't': return "TUPLE";         case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";       case 'G': return "BINFLOAT";      case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES"; case 0x80: return "PROTO";        case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";          case 0x83: return "EXT2";         case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";        case 0x86: return "TUPLE2";       case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";       case 0x89: return "NEWFALSE";     case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";         case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";     case 0x8f: return "EMPTY_SET";    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";     case 0x92: return "NEWOBJ_EX";    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";       case 0x95: return "FRAME";        case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";   case 0x98: return "READONLY_BUFFER";
    default: return "not a pickle opcode";
  }
}

}  // namespace detail

class Unpickler {
 public:
  // Bounds that keep a hostile pickle from exhausting memory or the C++ stack. Real checkpoints
  // stay far below them (a WideResNet50 state_dict: 2,766 memo entries, a tree one dict deep).
  static constexpr std::size_t kMaxStack = std::size_t(1) << 20;
  static constexpr std::size_t kMaxMarks = std::size_t(1) << 16;
  static constexpr std::size_t kMaxMemo = std::size_t(1) << 22;
  static constexpr std::size_t kMaxObjects = std::size_t(1) << 22;
  static constexpr int kMaxDepth = 200;  // containers nested in containers

  // Reads the pickle in data[0, size). `source` names it in errors ("model.pth: archive/data.pkl").
  Unpickler(const uint8_t* data, std::size_t size, std::string source, PersistentIds ids)
      : data_(data), size_(size), source_(std::move(source)), ids_(ids) {}

  // Runs from byte `pos` to STOP and returns the position after STOP. Call once.
  std::size_t load(std::size_t pos = 0) {
    pos_ = pos;
    run();
    return pos_;
  }

  // The storages the pickle's persistent ids name, each key once.
  const std::vector<StorageRef>& storages() const { return storages_; }

  // The loaded object as a value tree. make_tensor(view, name) materialises each tensor once;
  // `name` is the dotted key path by which the tree first reaches it (for error messages).
  using TensorMaker = std::function<RawTensor(const TensorRef&, const std::string&)>;
  PyValue value(const TensorMaker& make_tensor) const {
    Builder b{*this, make_tensor, std::vector<uint8_t>(objects_.size(), 0), std::vector<PyValue>(objects_.size())};
    return b.convert(result_, 0, "");
  }

  // For pickles without tensors (the legacy format's header and key list).
  PyValue value() const {
    return value([this](const TensorRef&, const std::string& name) -> RawTensor {
      fail("a tensor ('", name, "') where none is expected");
    });
  }

 private:
  enum class ObjType : uint8_t { string, tuple, list, dict, global, storage, tensor };
  enum class Global : uint8_t { ordered_dict, rebuild_tensor_v2, rebuild_parameter, storage_class };

  // A stack or memo cell: an immediate scalar or an arena object.
  struct Slot {
    enum Kind : uint8_t { none, boolean, integer, floating, object } kind = none;
    int64_t i = 0;  // bool, int, object index
    double f = 0;
  };
  struct Obj {
    ObjType type;
    Global global = Global::ordered_dict;  // which global (type global)
    uint32_t index = 0;                    // storages_ (storage) or tensors_ (tensor) index
    std::string text;                      // str value; global "module.name"
    std::vector<Slot> items;               // tuple, list; dict: key, value, key, value, ...
  };

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    ::packd::detail::throw_error(::packd::detail::concat(source_, ": ", parts..., " (pickle byte ", op_pos_, ")"));
  }

  // ---- reading ----------------------------------------------------------------------------
  const uint8_t* take(std::size_t n) {
    if (n > size_ - pos_)
      fail("the pickle ends inside ", detail::pickle_opcode_name(op_), "; the file is truncated or corrupt");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t take_le(int bytes) {
    const uint8_t* p = take(std::size_t(bytes));
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string take_string(uint64_t n) {
    if (n > size_ - pos_)
      fail("a string of ", n, " bytes runs past the end of the pickle; the file is truncated or corrupt");
    const uint8_t* p = take(std::size_t(n));
    return std::string(reinterpret_cast<const char*>(p), std::size_t(n));
  }
  std::string take_line() {  // GLOBAL's "module\n" and "name\n"
    const std::size_t limit = std::min<std::size_t>(size_ - pos_, 1024);
    const uint8_t* p = data_ + pos_;
    const auto* nl = static_cast<const uint8_t*>(std::memchr(p, '\n', limit));
    if (nl == nullptr) fail("GLOBAL without a newline-terminated name; the file is truncated or corrupt");
    pos_ += std::size_t(nl - p) + 1;
    return std::string(reinterpret_cast<const char*>(p), std::size_t(nl - p));
  }

  // ---- the stack and the arena ------------------------------------------------------------
  void push(Slot s) {
    if (stack_.size() >= kMaxStack) fail("the pickle's stack exceeds ", kMaxStack, " entries");
    stack_.push_back(s);
  }
  void push_int(int64_t v) { push({Slot::integer, v, 0}); }
  Slot pop() {
    if (stack_.size() <= stack_floor()) fail(detail::pickle_opcode_name(op_), " on an empty stack");
    Slot s = stack_.back();
    stack_.pop_back();
    return s;
  }
  Slot& top() {
    if (stack_.size() <= stack_floor()) fail(detail::pickle_opcode_name(op_), " on an empty stack");
    return stack_.back();
  }
  std::size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Slot> pop_to_mark() {
    if (marks_.empty()) fail(detail::pickle_opcode_name(op_), " without a MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Slot> items(stack_.begin() + std::ptrdiff_t(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Slot new_object(Obj o) {
    if (objects_.size() >= kMaxObjects) fail("the pickle creates more than ", kMaxObjects, " objects");
    objects_.push_back(std::move(o));
    return {Slot::object, int64_t(objects_.size() - 1), 0};
  }
  Obj* object(const Slot& s, ObjType t) {
    return s.kind == Slot::object && objects_[std::size_t(s.i)].type == t ? &objects_[std::size_t(s.i)] : nullptr;
  }
  std::string describe(const Slot& s) const {
    switch (s.kind) {
      case Slot::none: return "None";
      case Slot::boolean: return "bool";
      case Slot::integer: return "int";
      case Slot::floating: return "float";
      case Slot::object: break;
    }
    const Obj& o = objects_[std::size_t(s.i)];
    switch (o.type) {
      case ObjType::string: return "str";
      case ObjType::tuple: return "tuple";
      case ObjType::list: return "list";
      case ObjType::dict: return "dict";
      case ObjType::global: return "global " + o.text;
      case ObjType::storage: return "storage";
      case ObjType::tensor: return "tensor";
    }
    return "?";
  }
  void memo_put(uint64_t index) {
    if (memo_.size() >= kMaxMemo && !memo_.count(index)) fail("the pickle's memo exceeds ", kMaxMemo, " entries");
    memo_[index] = top();
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail(detail::pickle_opcode_name(op_), " of memo entry ", index, ", which was never stored");
    push(it->second);
  }
  Slot tuple_of(std::vector<Slot> items) { return new_object({ObjType::tuple, Global::ordered_dict, 0, {}, std::move(items)}); }

  // ---- globals ------------------------------------------------------------------------------
  Slot make_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    Obj o{ObjType::global, Global::ordered_dict, 0, full, {}};
    if (full == "collections.OrderedDict") {
      o.global = Global::ordered_dict;
    } else if (full == "torch._utils._rebuild_tensor_v2") {
      o.global = Global::rebuild_tensor_v2;
    } else if (full == "torch._utils._rebuild_parameter") {
      o.global = Global::rebuild_parameter;
    } else if (module == "torch" && name.size() > 7 && name.ends_with("Storage")) {
      if (find_storage_class(name) == nullptr)
        fail("storage class '", full, "' is not supported (packd reads Float, Double, Half, BFloat16, Long, Int, "
             "Short, Char, Byte and Bool storages)");
      o.global = Global::storage_class;
    } else {
      fail("the pickle references the global '", full, "', which packd does not load. packd reads only tensors "
           "in dicts, lists and tuples (globals collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
           "torch._utils._rebuild_parameter, torch.<X>Storage) and never runs code from a checkpoint; if this is "
           "a whole pickled model (torch.save(model)), save model.state_dict() instead");
    }
    return new_object(std::move(o));
  }

  // ---- persistent ids: storages ---------------------------------------------------------------
  Slot persistent_load(const Slot& pid) {
    if (ids_ == PersistentIds::none) fail("a persistent id (BINPERSID) where none is expected");
    const std::size_t arity = ids_ == PersistentIds::zip ? 5 : 6;
    const Obj* t = object(pid, ObjType::tuple);
    if (t == nullptr || t->items.size() != arity)
      fail("a persistent id must be a ", arity, "-tuple ('storage', class, key, location, numel",
           arity == 6 ? ", view_metadata" : "", "), got ", t ? std::to_string(t->items.size()) + "-tuple" : describe(pid));
    const auto& f = t->items;
    const Obj* tag = object(f[0], ObjType::string);
    const Obj* cls = object(f[1], ObjType::global);
    const Obj* key = object(f[2], ObjType::string);
    const Obj* loc = object(f[3], ObjType::string);
    if (tag == nullptr || tag->text != "storage") fail("a persistent id whose first field is not 'storage'");
    if (cls == nullptr || cls->global != Global::storage_class) fail("a persistent id whose class is not a torch storage class");
    if (key == nullptr || loc == nullptr) fail("a persistent id whose key or location is not a str");
    if (f[4].kind != Slot::integer || f[4].i < 0) fail("a persistent id whose element count is not a non-negative int");
    if (arity == 6 && f[5].kind != Slot::none)
      fail("storage '", key->text, "' is a view of another storage (legacy view_metadata), which packd does not support");
    const StorageClass* sc = find_storage_class(std::string_view(cls->text).substr(6));  // after "torch."
    auto [it, fresh] = storage_index_.emplace(key->text, storages_.size());
    if (fresh) {
      storages_.push_back({key->text, sc, f[4].i, loc->text});
    } else {
      const StorageRef& s = storages_[it->second];
      if (s.cls != sc || s.numel != f[4].i)
        fail("storage '", key->text, "' is named twice with different classes or element counts");
    }
    return new_object({ObjType::storage, Global::ordered_dict, uint32_t(it->second), {}, {}});
  }

  // ---- REDUCE: interpret the known callables ----------------------------------------------------
  Slot reduce(const Slot& callable, const Slot& args) {
    const Obj* g = object(callable, ObjType::global);
    const Obj* a = object(args, ObjType::tuple);
    if (g == nullptr) fail("REDUCE on a ", describe(callable), ", which is not a callable packd knows");
    if (a == nullptr) fail("REDUCE of ", g->text, " with arguments that are not a tuple");
    const auto& v = a->items;
    switch (g->global) {
      case Global::ordered_dict:
        if (!v.empty()) fail("collections.OrderedDict called with arguments; expected OrderedDict()");
        return new_object({ObjType::dict, Global::ordered_dict, 0, {}, {}});
      case Global::rebuild_parameter:  // (data, requires_grad, backward_hooks) -> the tensor itself
        if (v.size() != 3 || object(v[0], ObjType::tensor) == nullptr)
          fail("torch._utils._rebuild_parameter expects (tensor, requires_grad, backward_hooks)");
        return v[0];
      case Global::rebuild_tensor_v2: return rebuild_tensor(v);
      case Global::storage_class: break;
    }
    fail("REDUCE of ", g->text, ", which packd does not call");
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
  // [, metadata]): requires_grad, the hooks and the metadata do not matter for loading.
  Slot rebuild_tensor(const std::vector<Slot>& v) {
    if (v.size() != 6 && v.size() != 7)
      fail("torch._utils._rebuild_tensor_v2 expects 6 or 7 arguments, got ", v.size());
    const Obj* storage = object(v[0], ObjType::storage);
    if (storage == nullptr) fail("torch._utils._rebuild_tensor_v2's first argument is a ", describe(v[0]), ", not a storage");
    TensorRef t;
    t.storage = storage->index;
    if (v[1].kind != Slot::integer || v[1].i < 0) fail("a tensor's storage offset is not a non-negative int");
    t.offset = v[1].i;
    t.size = int_tuple(v[2], "size");
    t.stride = int_tuple(v[3], "stride");
    if (t.size.size() != t.stride.size())
      fail("a tensor's size has ", t.size.size(), " dimensions but its stride ", t.stride.size());
    if (t.size.size() > std::size_t(kMaxRank)) fail("a tensor of rank ", t.size.size(), " (packd's maximum is ", kMaxRank, ")");
    tensors_.push_back(std::move(t));
    return new_object({ObjType::tensor, Global::ordered_dict, uint32_t(tensors_.size() - 1), {}, {}});
  }
  std::vector<int64_t> int_tuple(const Slot& s, const char* what) {
    const Obj* t = object(s, ObjType::tuple);
    if (t == nullptr) fail("a tensor's ", what, " is a ", describe(s), ", not a tuple");
    std::vector<int64_t> out;
    for (const Slot& e : t->items) {
      if (e.kind != Slot::integer || e.i < 0) fail("a tensor's ", what, " holds a negative or non-int value");
      out.push_back(e.i);
    }
    return out;
  }

  // ---- the interpreter ----------------------------------------------------------------------
  void run() {
    for (;;) {
      op_pos_ = pos_;
      if (pos_ >= size_) fail("the pickle ends without STOP; the file is truncated or corrupt");
      op_ = data_[pos_++];
      switch (op_) {
        case 0x80: {  // PROTO
          const uint8_t proto = *take(1);
          if (proto > 5) fail("pickle protocol ", int(proto), " is newer than 5");
          break;
        }
        case 0x95: take(8); break;  // FRAME: framing is transparent to an in-memory reader
        case '.': {                 // STOP
          if (stack_.empty()) fail("STOP on an empty stack");
          result_ = stack_.back();
          return;
        }
        case '(':  // MARK
          if (marks_.size() >= kMaxMarks) fail("more than ", kMaxMarks, " nested MARKs");
          marks_.push_back(stack_.size());
          break;
        case 'N': push({}); break;
        case 0x88: push({Slot::boolean, 1, 0}); break;  // NEWTRUE
        case 0x89: push({Slot::boolean, 0, 0}); break;  // NEWFALSE
        case 'K': push_int(int64_t(take_le(1))); break;  // BININT1 (unsigned)
        case 'M': push_int(int64_t(take_le(2))); break;  // BININT2 (unsigned)
        case 'J': push_int(int64_t(int32_t(uint32_t(take_le(4))))); break;  // BININT (signed)
        case 0x8a: {  // LONG1: n bytes, little-endian two's complement
          const int n = *take(1);
          if (n > 8) fail("an integer of ", n, " bytes does not fit in 64 bits");
          uint64_t u = n > 0 ? take_le(n) : 0;
          if (n > 0 && n < 8 && (u >> (8 * n - 1)) != 0) u |= ~uint64_t(0) << (8 * n);  // sign-extend
          push_int(std::bit_cast<int64_t>(u));
          break;
        }
        case 'G': {  // BINFLOAT: big-endian IEEE double
          const uint8_t* p = take(8);
          uint64_t u = 0;
          for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
          push({Slot::floating, 0, std::bit_cast<double>(u)});
          break;
        }
        case 'X': push(new_object({ObjType::string, Global::ordered_dict, 0, take_string(take_le(4)), {}})); break;
        case 0x8c: push(new_object({ObjType::string, Global::ordered_dict, 0, take_string(take_le(1)), {}})); break;
        case 0x8d: push(new_object({ObjType::string, Global::ordered_dict, 0, take_string(take_le(8)), {}})); break;
        case ')': push(tuple_of({})); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          const std::size_t n = std::size_t(op_ - 0x84);
          std::vector<Slot> items(n);
          for (std::size_t i = n; i-- > 0;) items[i] = pop();
          push(tuple_of(std::move(items)));
          break;
        }
        case 't': push(tuple_of(pop_to_mark())); break;
        case ']': push(new_object({ObjType::list, Global::ordered_dict, 0, {}, {}})); break;
        case '}': push(new_object({ObjType::dict, Global::ordered_dict, 0, {}, {}})); break;
        case 'a': {  // APPEND
          const Slot v = pop();
          append_to(top(), {v});
          break;
        }
        case 'e': {  // APPENDS
          std::vector<Slot> items = pop_to_mark();
          append_to(top(), items);
          break;
        }
        case 's': {  // SETITEM
          const Slot v = pop();
          const Slot k = pop();
          set_items(top(), {k, v});
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Slot> items = pop_to_mark();
          if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
          set_items(top(), items);
          break;
        }
        case 'q': memo_put(take_le(1)); break;  // BINPUT
        case 'r': memo_put(take_le(4)); break;  // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'h': memo_get(take_le(1)); break;  // BINGET
        case 'j': memo_get(take_le(4)); break;  // LONG_BINGET
        case 'c': {  // GLOBAL
          const std::string module = take_line();
          const std::string name = take_line();
          push(make_global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const Slot name = pop();
          const Slot module = pop();
          const Obj* n = object(name, ObjType::string);
          const Obj* m = object(module, ObjType::string);
          if (n == nullptr || m == nullptr) fail("STACK_GLOBAL needs two str on the stack");
          push(make_global(m->text, n->text));
          break;
        }
        case 'Q': {  // BINPERSID
          const Slot pid = pop();
          push(persistent_load(pid));
          break;
        }
        case 'R': {  // REDUCE
          const Slot args = pop();
          const Slot callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 'b': {  // BUILD: only an OrderedDict's state ({'_metadata': ...}), which is dropped
          const Slot state = pop();
          (void)state;
          if (object(top(), ObjType::dict) == nullptr) fail("BUILD on a ", describe(top()), " (only dicts are supported)");
          break;
        }
        default:
          fail("unsupported pickle opcode 0x", "0123456789abcdef"[op_ >> 4], "0123456789abcdef"[op_ & 15], " (",
               detail::pickle_opcode_name(op_), ")");
      }
    }
  }

  void append_to(const Slot& target, const std::vector<Slot>& items) {
    Obj* list = object(target, ObjType::list);
    if (list == nullptr) fail(detail::pickle_opcode_name(op_), " on a ", describe(target), ", not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  void set_items(const Slot& target, const std::vector<Slot>& items) {
    Obj* dict = object(target, ObjType::dict);
    if (dict == nullptr) fail(detail::pickle_opcode_name(op_), " on a ", describe(target), ", not a dict");
    dict->items.insert(dict->items.end(), items.begin(), items.end());
  }

  // ---- arena -> value tree --------------------------------------------------------------------
  struct Builder {
    const Unpickler& u;
    const TensorMaker& make_tensor;
    std::vector<uint8_t> state;  // per object: 0 not seen, 1 being built (on the path), 2 built
    std::vector<PyValue> built;

    PyValue convert(const Slot& s, int depth, const std::string& path) {
      switch (s.kind) {
        case Slot::none: return {};
        case Slot::boolean: return PyValue::from_bool(s.i != 0);
        case Slot::integer: return PyValue::from_int(s.i);
        case Slot::floating: return PyValue::from_float(s.f);
        case Slot::object: break;
      }
      const std::size_t id = std::size_t(s.i);
      if (state[id] == 2) return built[id];
      if (state[id] == 1) u.fail("the pickle contains a reference cycle (at '", path, "'), which packd does not load");
      if (depth >= kMaxDepth) u.fail("containers nested deeper than ", kMaxDepth, " levels (at '", path, "')");
      state[id] = 1;
      const Obj& o = u.objects_[id];
      PyValue v;
      switch (o.type) {
        case ObjType::string: v = PyValue::from_string(o.text); break;
        case ObjType::global: v = PyValue::make_global(o.text); break;
        case ObjType::storage: u.fail("a bare storage ('", u.storages_[o.index].key, "' at '", path, "') outside a tensor");
        case ObjType::tensor: v = PyValue::make_tensor(make_tensor(u.tensors_[o.index], path)); break;
        case ObjType::tuple:
        case ObjType::list: {
          PyValue::Items items;
          items.reserve(o.items.size());
          for (std::size_t i = 0; i < o.items.size(); ++i)
            items.push_back(convert(o.items[i], depth + 1, path + "[" + std::to_string(i) + "]"));
          v = o.type == ObjType::tuple ? PyValue::make_tuple(std::move(items)) : PyValue::make_list(std::move(items));
          break;
        }
        case ObjType::dict: {
          PyValue::Dict d;
          for (std::size_t i = 0; i + 1 < o.items.size(); i += 2) {
            PyValue key = convert(o.items[i], depth + 1, path);
            if (!key.is_string() && !key.is_int())
              u.fail("a dict key of type ", key.type_name(), " at '", path, "' (only str and int keys are supported)");
            const std::string name = key.is_string() ? key.as_string() : std::to_string(key.as_int());
            PyValue value = convert(o.items[i + 1], depth + 1, path.empty() ? name : path + "." + name);
            d.set(std::move(key), std::move(value));
          }
          v = PyValue::make_dict(std::move(d));
          break;
        }
      }
      state[id] = 2;
      built[id] = v;
      return v;
    }
  };

  const uint8_t* data_;
  std::size_t size_;
  std::string source_;
  PersistentIds ids_;
  std::size_t pos_ = 0, op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<Slot> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, Slot> memo_;
  std::vector<Obj> objects_;
  std::vector<StorageRef> storages_;
  std::map<std::string, std::size_t> storage_index_;
  std::vector<TensorRef> tensors_;
  Slot result_;
};

// Unpickles a pickle that holds no tensors (e.g. a list of str); `source` names it in errors.
inline PyValue unpickle(const uint8_t* data, std::size_t size, const std::string& source) {
  Unpickler u(data, size, source, PersistentIds::none);
  u.load(0);
  return u.value();
}

}  // namespace packd::io
