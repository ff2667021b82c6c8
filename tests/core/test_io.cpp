// safetensors reading and writing: round trip, dtypes, metadata, and every malformed input
// producing a packd::Error that names the file.
#include <cstdio>
#include <fstream>

#include "testing.hpp"

using namespace packd;

namespace {
std::string temp_path(const std::string& name) { return std::string("/tmp/packd_test_") + name; }

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

std::vector<uint8_t> with_header(const std::string& json, std::size_t data_bytes) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(uint64_t(json.size()) >> (8 * i)));
  std::copy(json.begin(), json.end(), std::back_inserter(out));
  out.resize(out.size() + data_bytes, 0);
  return out;
}
}  // namespace

TEST_CASE("safetensors round trip keeps values, shapes and metadata", "[io]") {
  Generator gen(1);
  Tensor<float> a = randn<float>({3, 4}, gen);
  Tensor<double> b = randn<double>({2, 1, 5}, gen);
  Tensor<int64_t> c = arange<int64_t>(0, 7);
  const std::string path = temp_path("roundtrip.safetensors");
  io::write_safetensors(path, {{"a", io::raw_tensor(a.t())}, {"b", io::raw_tensor(b)}, {"c", io::raw_tensor(c)}},
                        {{"format", "packd"}, {"config", "{\"k\": 2}"}});
  io::SafetensorsFile f = io::read_safetensors(path);
  CHECK(f.get<float>("a").to_vector() == a.t().contiguous().to_vector());
  CHECK(f.get<double>("b").shape() == Shape{2, 1, 5});
  CHECK(f.get<double>("b").to_vector() == b.to_vector());
  CHECK(f.get<int64_t>("c").to_vector() == c.to_vector());
  CHECK(f.get<double>("a").to_vector()[0] == double(a.t().contiguous().to_vector()[0]));
  CHECK(f.metadata.at("config") == "{\"k\": 2}");
  CHECK_THROWS_PACKD(f.get<float>("zzz"), "no tensor named 'zzz'");
  CHECK_THROWS_PACKD(f.get<int64_t>("a"), "holds float32 data, which cannot be read as int64");
  std::remove(path.c_str());
}

TEST_CASE("float16 and bfloat16 storages decode exactly", "[io]") {
  // 1.0, -2.0, 65504 (max half), 2^-24 (smallest subnormal), inf
  const std::vector<uint16_t> half{0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00};
  CHECK(io::half_to_float(half[0]) == 1.0f);
  CHECK(io::half_to_float(half[1]) == -2.0f);
  CHECK(io::half_to_float(half[2]) == 65504.0f);
  CHECK(io::half_to_float(half[3]) == std::ldexp(1.0f, -24));
  CHECK(std::isinf(io::half_to_float(half[4])));
  CHECK(io::bfloat16_to_float(0x3f80) == 1.0f);
  CHECK(io::bfloat16_to_float(0xc040) == -3.0f);
}

TEST_CASE("PyTorch-written fixtures load", "[io]") {
  const io::SafetensorsFile& f = testing::fixture("core_linalg");
  CHECK(f.get<float>("mm.in0").shape() == Shape{5, 7});
  CHECK(f.metadata.at("generator") == "tests/reference/make_core_fixtures.py");
}

TEST_CASE("malformed safetensors files give errors naming the file", "[io]") {
  const std::string path = temp_path("bad.safetensors");
  auto expect = [&](const std::vector<uint8_t>& bytes, const std::string& text) {
    write_bytes(path, bytes);
    CHECK_THROWS_PACKD(io::read_safetensors(path), text);
    CHECK_THROWS_PACKD(io::read_safetensors(path), path);
  };
  expect({1, 2, 3}, "shorter than the 8-byte header length");
  expect({255, 255, 0, 0, 0, 0, 0, 0}, "runs past the end of the file");
  expect(with_header("{not json", 0), "not valid JSON");
  expect(with_header("[1,2]", 0), "not a JSON object");
  expect(with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "fall outside the data section");
  expect(with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "8 bytes of data for shape (3,)");
  expect(with_header(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8), "unsupported dtype");
  expect(with_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "negative or non-integer extent");
  expect(with_header(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "lacks dtype, shape or data_offsets");
  expect(with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "fall outside");
  expect(with_header(R"({"__metadata__":{"a":1}})", 0), "is not a string");
  CHECK_THROWS_PACKD(io::read_safetensors("/nonexistent/x.safetensors"), "/nonexistent/x.safetensors: cannot open");
  // a truncated copy of a good file
  io::write_safetensors(path, {{"w", io::raw_tensor(ones<float>({100}))}});
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  good.resize(good.size() - 10);
  expect(good, "truncated");
  std::remove(path.c_str());
}

TEST_CASE("atomic writes leave no temporary file behind", "[io]") {
  const std::string path = temp_path("atomic.safetensors");
  io::write_safetensors(path, {{"w", io::raw_tensor(ones<float>({4}))}});
  io::write_safetensors(path, {{"w", io::raw_tensor(zeros<float>({4}))}});
  CHECK(io::read_safetensors(path).get<float>("w").to_vector() == std::vector<float>(4, 0.0f));
  std::ifstream tmp(path + ".tmp." + std::to_string(::getpid()));
  CHECK_FALSE(tmp.good());
  CHECK_THROWS_PACKD(io::write_safetensors("/nonexistent-dir/x.safetensors", {}), "cannot create");
  std::remove(path.c_str());
}
