#pragma once
// SHA-256 (FIPS 180-4) of a buffer or a file, and the torchvision file-name hash check.
//
// torchvision names its weight files `<name>-<hexprefix>.pth`, where hexprefix (8 or more hex
// digits) is the start of the file's SHA-256, and torch.hub checks it after a download
// (hub.py's HASH_REGEX). check_torchvision_hash does the same before packd loads such a file, so
// a truncated or corrupt download is reported as such instead of as a parse error.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "packd/core/error.hpp"

namespace packd::io {

class Sha256 {
 public:
  void update(const uint8_t* data, std::size_t n) {
    total_ += n;
    if (fill_ > 0) {
      const std::size_t take = std::min(n, block_.size() - fill_);
      std::memcpy(block_.data() + fill_, data, take);
      fill_ += take, data += take, n -= take;
      if (fill_ < block_.size()) return;
      compress(block_.data());
      fill_ = 0;
    }
    for (; n >= 64; data += 64, n -= 64) compress(data);
    if (n > 0) std::memcpy(block_.data(), data, n), fill_ = n;
  }

  // The digest as 64 lowercase hex digits; the object must not be updated afterwards.
  std::string hex_digest() {
    const uint64_t bits = total_ * 8;
    const uint8_t pad = 0x80;
    update(&pad, 1);
    const uint8_t zero = 0;
    while (fill_ != 56) update(&zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(bits >> (56 - 8 * i));
    update(len, 8);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (uint32_t w : h_)
      for (int s = 28; s >= 0; s -= 4) out.push_back(digits[(w >> s) & 0xf]);
    return out;
  }

 private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress(const uint8_t* p) {
    static constexpr uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
  }

  std::array<uint32_t, 8> h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<uint8_t, 64> block_{};
  std::size_t fill_ = 0;
  uint64_t total_ = 0;
};

inline std::string sha256_hex(const uint8_t* data, std::size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.hex_digest();
}

// Streams the file in 1 MiB chunks, so a 300 MB checkpoint needs no second copy in memory.
inline std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  PACKD_CHECK(in.good(), path, ": cannot open for reading");
  Sha256 h;
  std::vector<char> chunk(std::size_t(1) << 20);
  while (in) {
    in.read(chunk.data(), std::streamsize(chunk.size()));
    const std::streamsize got = in.gcount();
    if (got > 0) h.update(reinterpret_cast<const uint8_t*>(chunk.data()), std::size_t(got));
  }
  PACKD_CHECK(!in.bad(), path, ": read error");
  return h.hex_digest();
}

// The hex prefix in a torchvision-style file name `<name>-<hex>.pth` (8 or more hex digits,
// lowercased), or "" when the name does not have that form.
inline std::string torchvision_hash_prefix(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string ext = ".pth";
  if (base.size() <= ext.size() || base.compare(base.size() - ext.size(), ext.size(), ext) != 0) return "";
  const std::string stem = base.substr(0, base.size() - ext.size());
  const std::size_t dash = stem.find_last_of('-');
  if (dash == std::string::npos || dash == 0) return "";
  std::string hex = stem.substr(dash + 1);
  if (hex.size() < 8 || hex.size() > 64) return "";
  for (char& c : hex) {
    if (c >= 'A' && c <= 'F') c = char(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "";
  }
  return hex;
}

// If the file name has the torchvision form, checks the file's SHA-256 against the prefix it
// names; returns silently otherwise.
inline void check_torchvision_hash(const std::string& path) {
  const std::string expected = torchvision_hash_prefix(path);
  if (expected.empty()) return;
  const std::string actual = sha256_file(path);
  PACKD_CHECK(actual.compare(0, expected.size(), expected) == 0, path, ": SHA-256 mismatch: the file name says the hash starts with ",
              expected, " but the file's SHA-256 is ", actual,
              "; the file is corrupt or truncated; download it again: see weights/README.md (packd checks files named "
              "<name>-<hex>.pth as torch.hub does; rename the file if that suffix is not its hash)");
}

}  // namespace packd::io
