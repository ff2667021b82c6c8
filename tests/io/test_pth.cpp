// .pth reading (zip and legacy torch.save files): values against torch.load's, the value tree,
// views and shared storages, and every broken or hostile input giving a packd::Error that says
// what is wrong. Fixtures: tests/reference/make_pth_fixtures.py.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "packd/io/weights.hpp"
#include "testing.hpp"

using namespace packd;
using namespace std::string_literals;  // "..."s keeps embedded NUL bytes
using io::PyValue;

namespace {
std::string pth_fixture(const std::string& name) { return std::string(PACKD_FIXTURE_DIR) + "/pth/" + name; }
std::vector<uint8_t> read_bytes(const std::string& path) { return io::detail::read_file_bytes(path); }
std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::string temp_path(const std::string& name) { return std::string("/tmp/packd_test_pth_") + name; }
void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

PyValue parse(const std::vector<uint8_t>& b, const std::string& name = "mem.pth") {
  return io::parse_pth(b.data(), b.size(), name);
}
PyValue unpickle(const std::string& s) {
  return io::unpickle(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "test.pkl");
}

// Pickle pieces, spelled out so that no hex escape swallows the letter after it.
std::string le32(uint32_t v) { return {char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }
std::string str(const std::string& s) { return "X" + le32(uint32_t(s.size())) + s; }  // BINUNICODE
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string int1(int v) { return {'K', char(v)}; }  // BININT1
const std::string P2 = "\x80\x02"s;                 // PROTO 2

// A legacy-format file around an object pickle with no storages.
std::vector<uint8_t> legacy_file(const std::string& object_pickle) {
  const std::string magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"s;
  const std::string version = P2 + "M\xe9\x03.";  // 1001
  return bytes_of(magic + version + P2 + "}." + object_pickle + P2 + "].");
}

// Every tensor in the expected safetensors file, with the dtype its metadata names, equals the
// loaded one exactly.
void check_matches_expected(const std::map<std::string, io::RawTensor>& got, const std::string& expected_name) {
  const io::SafetensorsFile expected = io::read_safetensors(pth_fixture(expected_name));
  std::vector<std::string> got_keys, want_keys;
  for (const auto& [k, v] : got) got_keys.push_back(k);
  for (const auto& [k, v] : expected.tensors) want_keys.push_back(k);
  CHECK(got_keys == want_keys);
  for (const auto& [key, want] : expected.tensors) {
    INFO("tensor " << key);
    auto it = got.find(key);
    REQUIRE(it != got.end());
    const io::RawTensor& t = it->second;
    CHECK(dtype_name(t.dtype) == expected.metadata.at("dtype." + key));
    CHECK(t.shape == want.shape);
    if (t.dtype == DType::int64) {
      CHECK(t.to_tensor<int64_t>().to_vector() == want.to_tensor<int64_t>().to_vector());
    } else {
      CHECK(t.to_tensor<double>().to_vector() == want.to_tensor<double>().to_vector());
    }
  }
}
}  // namespace

TEST_CASE("zip and legacy .pth files give the tensors torch.load gives", "[io][pth]") {
  for (const std::string c : {"basic", "nested", "block", "tiny"})
    for (const std::string suffix : {".pth", "_legacy.pth"}) {
      INFO("fixture " << c << suffix);
      check_matches_expected(io::load_weights(pth_fixture(c + suffix)), c + ".expected.safetensors");
    }
  // Protocol 4 pickles (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL) in both formats.
  check_matches_expected(io::load_weights(pth_fixture("tiny_p4.pth")), "tiny.expected.safetensors");
  check_matches_expected(io::load_weights(pth_fixture("tiny_p4_legacy.pth")), "tiny.expected.safetensors");
  // Python's zipfile layout (no padding, no data descriptors, no zip64), prefix 'archive', a
  // 'byteorder' record.
  check_matches_expected(io::load_weights(pth_fixture("rezipped.pth")), "basic.expected.safetensors");
  // A safetensors file through the same entry point.
  check_matches_expected(io::load_weights(pth_fixture("tiny.expected.safetensors")), "tiny.expected.safetensors");
}

TEST_CASE("views keep their shapes and share their storage's values", "[io][pth]") {
  for (const std::string file : {"basic.pth", "basic_legacy.pth"}) {
    INFO(file);
    const auto w = io::load_weights(pth_fixture(file));
    const std::vector<float> big = w.at("big").to_tensor<float>().to_vector();  // 4x6
    const io::RawTensor& view = w.at("view");                                   // big[1:, ::2]
    REQUIRE(view.shape == Shape{3, 3});
    const std::vector<float> v = view.to_tensor<float>().to_vector();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) CHECK(v[std::size_t(i * 3 + j)] == big[std::size_t((i + 1) * 6 + 2 * j)]);
    CHECK(w.at("transposed").shape == Shape{5, 3});
    CHECK(w.at("expanded").shape == Shape{3, 4});
    CHECK(w.at("empty").shape == Shape{0, 3});
    CHECK(w.at("empty").bytes.empty());
    CHECK(w.at("scalar").shape == Shape{});
    CHECK(w.at("scalar").to_tensor<int64_t>().to_vector() == std::vector<int64_t>{7});
    CHECK(w.at("tied").bytes == w.at("f32").bytes);
    CHECK(w.at("bf16").dtype == DType::bfloat16);
    CHECK(w.at("bool").to_tensor<int64_t>().to_vector() == std::vector<int64_t>{1, 0, 1});
    CHECK(w.at("u8").to_tensor<int64_t>().to_vector() == std::vector<int64_t>{0, 200, 255});
    CHECK(w.at("i32").to_tensor<int64_t>().to_vector() == std::vector<int64_t>{-2147483648LL, 5, 2147483647});
  }
}

TEST_CASE("the value tree keeps a checkpoint's structure", "[io][pth]") {
  for (const std::string file : {"nested.pth", "nested_legacy.pth"}) {
    INFO(file);
    const PyValue root = io::load_pth(pth_fixture(file));
    REQUIRE(root.is_dict());
    const PyValue::Dict& d = root.dict();
    CHECK(d.find("epoch")->as_int() == 3);
    CHECK(d.find("lr")->as_float() == 0.01);
    CHECK(d.find("big_int")->as_int() == (int64_t(1) << 40));
    CHECK(d.find("neg")->as_int() == -5);
    CHECK(d.find("name")->as_string() == "rd");
    const PyValue& history = *d.find("history");
    REQUIRE(history.kind() == PyValue::Kind::list);
    REQUIRE(history.items().size() == 5);
    CHECK(history.items()[0].as_int() == 1);
    CHECK(history.items()[1].as_float() == 2.5);
    CHECK(history.items()[2].is_none());
    CHECK(history.items()[3].as_bool());
    CHECK(!history.items()[4].as_bool());
    const PyValue& cfg = *d.find("cfg");
    REQUIRE(cfg.kind() == PyValue::Kind::tuple);
    CHECK(cfg.items()[1].as_string() == "x");

    // Insertion order, as in the state_dict.
    const PyValue& decoder = io::select_dict(root, {"decoder"}, file);
    std::vector<std::string> keys;
    for (const auto& e : decoder.dict().entries()) keys.push_back(e.key.as_string());
    CHECK(keys == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                           "1.running_var", "1.num_batches_tracked"});
    CHECK(decoder.dict().find("0.weight")->tensor().shape == Shape{2, 2, 1, 1});

    // Int keys (an optimizer's state) are reachable by their decimal text.
    const PyValue& state0 = io::select_dict(root, {"opt", "state", "0"}, file);
    CHECK(state0.dict().find("momentum_buffer")->is_tensor());
    CHECK(io::flatten_state_dict(io::select_dict(root, {"bn"}), "teacher").count("teacher.w") == 1);

    CHECK_THROWS_PACKD(io::select_dict(root, {"model"}, file), "no key 'model' in the top level; the keys there are 'bn', 'decoder', 'epoch'");
    CHECK_THROWS_PACKD(io::select_dict(root, {"bn", "x"}, file), "no key 'x' in 'bn'; the keys there are 'w', 'num'");
    CHECK_THROWS_PACKD(io::select_dict(root, {"epoch"}, file), "'epoch' is a int, not a dict");
    CHECK_THROWS_PACKD(io::select_dict(root, {"epoch", "x"}, file), "'epoch' is a int, not a dict, so it has no key 'x'");
    CHECK_THROWS_PACKD(d.find("name")->as_int(), "expected an int, got str");
  }
}

TEST_CASE("flatten_state_dict: names, skipped leaves, collisions and bounds", "[io][pth]") {
  io::RawTensor t;
  t.shape = Shape{1};
  t.bytes.resize(4);
  const PyValue tensor = PyValue::make_tensor(t);
  PyValue::Dict inner;
  inner.set(PyValue::from_string("b"), tensor);
  PyValue::Dict outer;
  outer.set(PyValue::from_string("a"), PyValue::make_dict(inner));
  outer.set(PyValue::from_string("epoch"), PyValue::from_int(3));
  outer.set(PyValue::from_string("list"), PyValue::make_list({tensor}));
  outer.set(PyValue::from_int(7), tensor);
  const auto flat = io::flatten_state_dict(PyValue::make_dict(outer));
  CHECK(flat.size() == 2);
  CHECK(flat.count("a.b") == 1);
  CHECK(flat.count("7") == 1);

  outer.set(PyValue::from_string("a.b"), tensor);
  CHECK_THROWS_PACKD(io::flatten_state_dict(PyValue::make_dict(outer)), "two entries flatten to the name 'a.b'");
  CHECK_THROWS_PACKD(io::flatten_state_dict(PyValue::make_list({})), "holds a list, not a dict of tensors");
  CHECK(io::flatten_state_dict(tensor, "w").count("w") == 1);

  // Setting a key twice keeps its first position, as Python dicts do.
  PyValue::Dict twice;
  twice.set(PyValue::from_string("x"), PyValue::from_int(1));
  twice.set(PyValue::from_string("y"), PyValue::from_int(2));
  twice.set(PyValue::from_string("x"), PyValue::from_int(3));
  REQUIRE(twice.size() == 2);
  CHECK(twice.entries()[0].value.as_int() == 3);
  CHECK_THROWS_PACKD(twice.set(PyValue::from_float(1.5), PyValue()), "a dict key of type float is not supported");

  // 40 levels of a dict holding the same dict twice: 2^40 paths, refused rather than walked.
  PyValue level = tensor;
  for (int i = 0; i < 40; ++i) {
    PyValue::Dict d;
    d.set(PyValue::from_string("l"), level);
    d.set(PyValue::from_string("r"), level);
    level = PyValue::make_dict(d);
  }
  CHECK_THROWS_PACKD(io::flatten_state_dict(level), "more than 4M entries");
}

TEST_CASE("hostile pickles are refused without running anything", "[io][pth]") {
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_os_system.pth")), "the pickle references the global 'posix.system'");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_os_system_legacy.pth")), "the pickle references the global 'posix.system'");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_os_system.pth")), "never runs code from a checkpoint");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_full_model.pth")), "'torch.nn.modules.linear.Linear'");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_full_model.pth")), "save model.state_dict() instead");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_cycle.pth")), "reference cycle (at 'loop[0]')");
  CHECK_THROWS_PACKD(io::load_weights(pth_fixture("bad_os_system.pth")), "bad_os_system.pth: archive/data.pkl: ");
  // Protocol 4's STACK_GLOBAL goes through the same check.
  CHECK_THROWS_PACKD(unpickle("\x80\x04\x8c\x05posix\x8c\x06system\x93."s), "global 'posix.system'");
  CHECK_THROWS_PACKD(unpickle(P2 + global("builtins", "eval") + "."), "global 'builtins.eval'");
}

TEST_CASE("broken zip checkpoints say what is wrong", "[io][pth]") {
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_short_entry.pth")),
                     "zip entry 'tiny/data/0' holds 20 bytes, but storage '0' is 6 elements of torch.FloatStorage (24 bytes)");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_missing_entry.pth")), "storage '1' (1 elements of torch.LongStorage) has no entry 'tiny/data/1'");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_deflated.pth")), "zip entry 'tiny/data/0' is compressed (method 8, deflate)");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_big_endian.pth")), "byte order 'big'");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_no_data_pkl.pth")), "without a data.pkl record");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_view_too_big.pth")),
                     "tensor 'w': storage '0' (4 elements) is shorter than its tensor (offset 2, size [3], stride [1] reach element 4)");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_view_stride.pth")), "size [2, 2], stride [3, 1] reach element 4");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_complex_storage.pth")), "storage class 'torch.ComplexFloatStorage' is not supported");
  // The hand-built control case of those files loads: offset 1 into [0, 1, 2, 3].
  CHECK(io::load_weights(pth_fixture("ok_hand_zip.pth")).at("w").to_tensor<float>().to_vector() == std::vector<float>{1, 2, 3});
}

TEST_CASE("broken legacy checkpoints say what is wrong", "[io][pth]") {
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_legacy_numel.pth")), "storage '94000' has 5 elements in the file, but its tensors say 4");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_legacy_view_metadata.pth")), "is a view of another storage (legacy view_metadata)");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_legacy_missing_key.pth")), "storage '94000' is used by a tensor but missing from the key list");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_legacy_big_endian.pth")), "saved on a big-endian machine");
  CHECK_THROWS_PACKD(io::load_pth(pth_fixture("bad_legacy_trailing.pth")), "5 unexpected bytes after the last storage");
  CHECK(io::load_weights(pth_fixture("ok_hand_legacy.pth")).at("w").shape == Shape{2, 2});
  const std::vector<uint8_t> empty_dict = legacy_file("\x80\x02}.");
  CHECK_THROWS_PACKD(io::parse_weights(empty_dict.data(), empty_dict.size(), "e.pth"), "e.pth: the file holds no tensors");
  const std::vector<uint8_t> list = legacy_file("\x80\x02].");
  CHECK_THROWS_PACKD(io::parse_weights(list.data(), list.size(), "l.pth"), "l.pth: the checkpoint holds a list, not a dict of tensors");
  const std::vector<uint8_t> wrong_version = bytes_of("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"s + P2 + int1(5) + ".");
  CHECK_THROWS_PACKD(parse(wrong_version), "legacy protocol version 5 (packd reads 1001)");
}

TEST_CASE("truncated checkpoints throw packd::Error wherever they are cut", "[io][pth]") {
  const std::vector<uint8_t> zip = read_bytes(pth_fixture("basic.pth"));
  const std::vector<uint8_t> legacy = read_bytes(pth_fixture("basic_legacy.pth"));
  auto cut = [](const std::vector<uint8_t>& b, std::size_t n) { return std::vector<uint8_t>(b.begin(), b.begin() + std::ptrdiff_t(n)); };
  // Zip: the directory is at the end, so any cut loses it.
  for (std::size_t n : {std::size_t(10), std::size_t(200), zip.size() / 2, zip.size() - 1})
    CHECK_THROWS_PACKD(parse(cut(zip, n)), "no zip end-of-central-directory record; the file is truncated");
  // Legacy: within the magic number, the header pickles, the object pickle and the data.
  std::ifstream layout(pth_fixture("basic_legacy.layout.txt"));
  std::string word;
  std::size_t object_start = 0, data_start = 0;
  layout >> word >> object_start >> word >> data_start;
  REQUIRE(object_start == 137);
  REQUIRE(data_start > object_start);
  CHECK_THROWS_PACKD(parse(cut(legacy, 10)), "not a PyTorch .pth file: it looks like a Python pickle that does not start with torch.save's magic number");
  CHECK_THROWS_PACKD(parse(cut(legacy, 60)), "mem.pth (system info): ");
  CHECK_THROWS_PACKD(parse(cut(legacy, 60)), "the file is truncated or corrupt");
  CHECK_THROWS_PACKD(parse(cut(legacy, object_start + 100)), "mem.pth (object): ");
  CHECK_THROWS_PACKD(parse(cut(legacy, data_start + 20)), "the file is truncated");
  CHECK_THROWS_PACKD(parse(cut(legacy, legacy.size() - 1)), "past the end of the file");

  // Every 97th byte of every valid fixture: a packd::Error, never another exception or a crash.
  // The cut copy has exactly n bytes, so the sanitizer build sees any read past it.
  for (const std::string file : {"basic.pth", "basic_legacy.pth", "nested.pth", "nested_legacy.pth", "block.pth",
                                 "block_legacy.pth", "tiny_p4.pth", "tiny_p4_legacy.pth", "rezipped.pth"}) {
    INFO(file);
    const std::vector<uint8_t> b = read_bytes(pth_fixture(file));
    for (std::size_t n = 0; n < b.size(); n += 97) CHECK_THROWS_PACKD(parse(cut(b, n)), "");
  }
}

TEST_CASE("files that are not checkpoints are described", "[io][pth]") {
  CHECK_THROWS_PACKD(parse({}), "mem.pth: not a PyTorch .pth file: it looks like an empty file");
  CHECK_THROWS_PACKD(parse(bytes_of("GIF89a\x01\x02")), "nothing packd knows (first bytes: 47 49 46 38 39 61 01 02)");
  CHECK_THROWS_PACKD(parse(read_bytes(pth_fixture("tiny.expected.safetensors"))), "a safetensors file");
  CHECK_THROWS_PACKD(parse(bytes_of("\x1f\x8b\x08\x00"s)), "gzip-compressed");
  CHECK_THROWS_PACKD(parse(bytes_of("version https://git-lfs.github.com/spec/v1\noid sha256:00\n")), "a Git LFS pointer");
  CHECK_THROWS_PACKD(parse(bytes_of("<!DOCTYPE html><html>")), "an HTML or XML page");
  CHECK_THROWS_PACKD(parse(bytes_of(P2 + "}q\x00."s)), "a Python pickle that does not start with torch.save's magic number");
  std::vector<uint8_t> tar(1024, 0);
  std::memcpy(tar.data() + 257, "ustar", 5);
  CHECK_THROWS_PACKD(parse(tar), "a tar archive");
  CHECK_THROWS_PACKD(parse(bytes_of("PK\x05\x06")), "a zip archive that does not start with a local file header");
  CHECK_THROWS_PACKD(io::load_pth("/nonexistent/packd.pth"), "/nonexistent/packd.pth: cannot open for reading");
  CHECK_THROWS_PACKD(io::load_weights("/nonexistent/packd.pth"), "/nonexistent/packd.pth: cannot open for reading");
  const std::string text = temp_path("text.pth");
  write_bytes(text, bytes_of("import torch\n"));
  CHECK_THROWS_PACKD(io::load_weights(text), text + ": not a weight file packd reads");
  std::remove(text.c_str());
  const std::string pth = pth_fixture("tiny.pth");
  CHECK(io::detect_weights_format(read_bytes(pth).data(), read_bytes(pth).size()) == io::WeightsFormat::pth_zip);
}

TEST_CASE("the unpickler: opcodes, limits and errors", "[io][pth]") {
  // LONG1 of 0..8 bytes, two's complement; BINFLOAT big-endian; BININT signed.
  CHECK(unpickle(P2 + "\x8a\x01\xff."s).as_int() == -1);
  CHECK(unpickle(P2 + "\x8a\x02\x00\x80."s).as_int() == -32768);
  CHECK(unpickle(P2 + "\x8a\x00."s).as_int() == 0);
  CHECK(unpickle(P2 + "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f."s).as_int() == INT64_MAX);
  CHECK(unpickle(P2 + "G\x3f\xf8\x00\x00\x00\x00\x00\x00."s).as_float() == 1.5);
  CHECK(unpickle(P2 + "J\xfe\xff\xff\xff."s).as_int() == -2);
  CHECK(unpickle(P2 + str("hi") + ".").as_string() == "hi");
  CHECK(unpickle("\x80\x04\x8d\x01\x00\x00\x00\x00\x00\x00\x00z."s).as_string() == "z");  // BINUNICODE8
  // A memoised dict filled after it was stored, fetched again with BINGET.
  const PyValue pair = unpickle(P2 + "}q\x00("s + int1(1) + int1(2) + "uh\x00\x86."s);
  REQUIRE(pair.items().size() == 2);
  CHECK(pair.items()[1].dict().find(1)->as_int() == 2);
  // OrderedDict() with BUILD of its state, as state_dicts are pickled.
  CHECK(unpickle(P2 + global("collections", "OrderedDict") + ")R}b.").dict().size() == 0);

  CHECK_THROWS_PACKD(unpickle(P2 + "i"), "unsupported pickle opcode 0x69 (INST) (pickle byte 2)");
  CHECK_THROWS_PACKD(unpickle(P2 + "\x81"), "0x81 (NEWOBJ)");
  CHECK_THROWS_PACKD(unpickle(P2 + "\xff"), "0xff (not a pickle opcode)");
  CHECK_THROWS_PACKD(unpickle("\x80\x06N."), "pickle protocol 6 is newer than 5");
  CHECK_THROWS_PACKD(unpickle(P2 + "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."s), "an integer of 9 bytes does not fit in 64 bits");
  CHECK_THROWS_PACKD(unpickle(P2 + "h\x05."), "BINGET of memo entry 5, which was never stored");
  CHECK_THROWS_PACKD(unpickle(P2 + "}(" + int1(1) + "u."), "SETITEMS with an odd number of items");
  CHECK_THROWS_PACKD(unpickle(P2 + "}G\x3f\xf8\x00\x00\x00\x00\x00\x00"s + int1(1) + "s."), "a dict key of type float");
  CHECK_THROWS_PACKD(unpickle(P2 + int1(1) + int1(1) + int1(2) + "s."), "SETITEM on a int, not a dict");
  CHECK_THROWS_PACKD(unpickle(P2 + int1(1) + int1(2) + "a."), "APPEND on a int, not a list");
  CHECK_THROWS_PACKD(unpickle(P2 + "."), "STOP on an empty stack");
  CHECK_THROWS_PACKD(unpickle(P2 + "N"), "the pickle ends without STOP");
  CHECK_THROWS_PACKD(unpickle(P2 + "t."), "TUPLE without a MARK");
  CHECK_THROWS_PACKD(unpickle(P2 + "(\x85."), "TUPLE1 on an empty stack");
  CHECK_THROWS_PACKD(unpickle(P2 + "X" + le32(255) + "ab."), "a string of 255 bytes runs past the end of the pickle");
  CHECK_THROWS_PACKD(unpickle(P2 + "J\x01"), "the pickle ends inside BININT");
  CHECK_THROWS_PACKD(unpickle(P2 + "ctorch\nFloatStorage"), "GLOBAL without a newline-terminated name");
  CHECK_THROWS_PACKD(unpickle(P2 + global("collections", "OrderedDict") + int1(1) + "\x85R."), "collections.OrderedDict called with arguments");
  CHECK_THROWS_PACKD(unpickle(P2 + global("torch", "FloatStorage") + ")R."), "REDUCE of torch.FloatStorage, which packd does not call");
  CHECK_THROWS_PACKD(unpickle(P2 + int1(1) + ")R."), "REDUCE on a int");
  CHECK_THROWS_PACKD(unpickle(P2 + int1(1) + int1(1) + "b."), "BUILD on a int (only dicts are supported)");
  CHECK_THROWS_PACKD(unpickle(P2 + global("torch", "UntypedStorage") + "."), "storage class 'torch.UntypedStorage' is not supported");
  CHECK_THROWS_PACKD(unpickle(P2 + "NQ."), "a persistent id (BINPERSID) where none is expected");

  // Nesting: 1000 lists, each appended into the one below.
  std::string deep = "\x80\x02" + std::string(1000, ']') + std::string(999, 'a') + ".";
  CHECK_THROWS_PACKD(unpickle(deep), "containers nested deeper than 200 levels");
  std::string shallow = "\x80\x02" + std::string(100, ']') + std::string(99, 'a') + ".";
  CHECK(unpickle(shallow).items().size() == 1);
  // A stack of 2^20 + 1 Nones.
  std::string tall = "\x80\x02" + std::string((std::size_t(1) << 20) + 1, 'N') + ".";
  CHECK_THROWS_PACKD(unpickle(tall), "the pickle's stack exceeds 1048576 entries");
  std::string marks = "\x80\x02" + std::string((std::size_t(1) << 16) + 1, '(') + ".";
  CHECK_THROWS_PACKD(unpickle(marks), "more than 65536 nested MARKs");
}

TEST_CASE("the unpickler reports storages and tensor views", "[io][pth]") {
  // ('storage', torch.FloatStorage, '7', 'cpu', 10) -> _rebuild_tensor_v2(s, 2, (2, 3), (4, 1), False, OrderedDict())
  const std::string pid = "(" + str("storage") + global("torch", "FloatStorage") + str("7") + str("cpu") + int1(10) + "tQ";
  const std::string tensor = global("torch._utils", "_rebuild_tensor_v2") + "(" + pid + int1(2) + int1(2) + int1(3) + "\x86" +
                             int1(4) + int1(1) + "\x86\x89" + global("collections", "OrderedDict") + ")RtR";
  const std::string p = P2 + "}(" + str("w") + tensor + "u.";
  io::Unpickler u(reinterpret_cast<const uint8_t*>(p.data()), p.size(), "t.pkl", io::PersistentIds::zip);
  CHECK(u.load(0) == p.size());
  REQUIRE(u.storages().size() == 1);
  CHECK(u.storages()[0].key == "7");
  CHECK(u.storages()[0].numel == 10);
  CHECK(u.storages()[0].cls->name == "FloatStorage");
  CHECK(u.storages()[0].location == "cpu");
  io::TensorRef seen;
  std::string seen_name;
  const PyValue root = u.value([&](const io::TensorRef& t, const std::string& name) {
    seen = t, seen_name = name;
    return io::RawTensor{};
  });
  CHECK(root.dict().find("w")->is_tensor());
  CHECK(seen_name == "w");
  CHECK(seen.offset == 2);
  CHECK(seen.size == std::vector<int64_t>{2, 3});
  CHECK(seen.stride == std::vector<int64_t>{4, 1});

  // The legacy form wants a sixth field; a bare storage is not a value.
  io::Unpickler legacy(reinterpret_cast<const uint8_t*>(p.data()), p.size(), "t.pkl", io::PersistentIds::legacy);
  CHECK_THROWS_PACKD(legacy.load(0), "a persistent id must be a 6-tuple");
  const std::string bare = P2 + pid + ".";
  io::Unpickler b(reinterpret_cast<const uint8_t*>(bare.data()), bare.size(), "b.pkl", io::PersistentIds::zip);
  b.load(0);
  CHECK_THROWS_PACKD(b.value([](const io::TensorRef&, const std::string&) { return io::RawTensor{}; }), "a bare storage ('7'");
  CHECK_THROWS_PACKD(b.value(), "a bare storage");
}
