// SHA-256 against the FIPS 180-2 / NIST test vectors, streaming over files, and the torchvision
// file-name hash check.
#include <cstdio>
#include <fstream>

#include "packd/io/sha256.hpp"
#include "testing.hpp"

using namespace packd;

namespace {
std::string sha(const std::string& s) { return io::sha256_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

void write_text(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::binary).write(s.data(), std::streamsize(s.size()));
}
}  // namespace

TEST_CASE("SHA-256 of the standard test vectors", "[io][sha256]") {
  CHECK(sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==  // 448 bits
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");  // 896 bits
  CHECK(sha(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Padding edge cases: 55, 56 and 64 bytes (the length field fits, does not fit, a whole block).
  CHECK(sha(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_CASE("SHA-256 fed in pieces and over a file equals the one-shot hash", "[io][sha256]") {
  std::string data;
  for (int i = 0; i < (3 << 20) + 5; ++i) data.push_back(char(i * 7 + (i >> 9)));
  const std::string whole = sha(data);
  io::Sha256 h;
  for (std::size_t at = 0, step = 1; at < data.size(); at += step, step = step * 3 % 1021 + 1)
    h.update(reinterpret_cast<const uint8_t*>(data.data()) + at, std::min(step, data.size() - at));
  CHECK(h.hex_digest() == whole);
  const std::string path = "/tmp/packd_test_sha256_stream.bin";
  write_text(path, data);  // 3 MiB + 5 bytes: several 1 MiB chunks and a short last one
  CHECK(io::sha256_file(path) == whole);
  std::remove(path.c_str());
  CHECK_THROWS_PACKD(io::sha256_file("/nonexistent/x.pth"), "/nonexistent/x.pth: cannot open for reading");
}

TEST_CASE("torchvision file names name the start of the file's SHA-256", "[io][sha256]") {
  CHECK(io::torchvision_hash_prefix("wide_resnet50_2-95faca4d.pth") == "95faca4d");
  CHECK(io::torchvision_hash_prefix("/w/resnet18-f37072fd.pth") == "f37072fd");
  CHECK(io::torchvision_hash_prefix("a-b-95FACA4D0.pth") == "95faca4d0");
  CHECK(io::torchvision_hash_prefix("model.pth").empty());
  CHECK(io::torchvision_hash_prefix("model-abc123.pth").empty());     // fewer than 8 digits
  CHECK(io::torchvision_hash_prefix("model-95faca4g.pth").empty());   // not hex
  CHECK(io::torchvision_hash_prefix("-95faca4d.pth").empty());        // no name
  CHECK(io::torchvision_hash_prefix("model-95faca4d.safetensors").empty());
  CHECK(io::torchvision_hash_prefix("dir-95faca4d.pth/model.pth").empty());

  const std::string content = "not really weights";
  const std::string hash = sha(content);
  const std::string good = "/tmp/packd_test_sha256_tiny-" + hash.substr(0, 10) + ".pth";
  write_text(good, content);
  CHECK_NOTHROW(io::check_torchvision_hash(good));
  const std::string bad = "/tmp/packd_test_sha256_tiny-00000000.pth";
  write_text(bad, content);
  CHECK_THROWS_PACKD(io::check_torchvision_hash(bad), bad + ": SHA-256 mismatch: the file name says the hash starts with 00000000 but the file's SHA-256 is " + hash);
  CHECK_THROWS_PACKD(io::check_torchvision_hash(bad), "the file is corrupt or truncated; download it again: see weights/README.md");
  std::remove(good.c_str());
  std::remove(bad.c_str());
  CHECK_NOTHROW(io::check_torchvision_hash("/nonexistent/model.pth"));  // no hash in the name: not checked
}
