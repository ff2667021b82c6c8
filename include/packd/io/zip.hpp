#pragma once
// A reader of uncompressed (STORED) zip archives held in memory: the container torch.save has
// written since PyTorch 1.6 (docs: shared/spec/pth-format.md, "Zip format").
//
// The central directory is the authority: torch.save sets general-purpose bit 3, so its local
// headers carry zero sizes and the real sizes follow the data in a descriptor. The reader finds
// the end-of-central-directory record (and, when present, the zip64 record through its locator:
// torch writes one even for small files), reads every central entry, and for an entry's data
// skips the local header (30 bytes + name + extra field, which torch uses to pad data to 64
// bytes). Every offset and length is checked against the buffer before it is used, so a
// truncated or hostile archive throws packd::Error naming the archive and the entry.
// Compressed and encrypted entries are refused; CRCs are not checked.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "packd/core/error.hpp"

namespace packd::io {

namespace detail {
inline uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
inline uint32_t le32(const uint8_t* p) { return uint32_t(le16(p)) | uint32_t(le16(p + 2)) << 16; }
inline uint64_t le64(const uint8_t* p) { return uint64_t(le32(p)) | uint64_t(le32(p + 4)) << 32; }
// [offset, offset + length) lies inside a buffer of `size` bytes (no overflow).
inline bool fits(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }
}  // namespace detail

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0: stored; 8: deflate; ...
  uint16_t flags = 0;   // general-purpose bits (bit 0: encrypted, bit 3: data descriptor)
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;           // uncompressed
  uint64_t header_offset = 0;  // of the local file header
};

class ZipArchive {
 public:
  // Parses the directory of the archive at data[0, size). `source` names it in errors. The
  // buffer must outlive the archive and the spans it returns.
  ZipArchive(const uint8_t* data, std::size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {
    parse_directory();
  }

  const std::string& source() const { return source_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }

  const ZipEntry* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  // The entry's bytes, in place.
  std::span<const uint8_t> read(const ZipEntry& e) const {
    const std::string where = source_ + ": zip entry '" + e.name + "'";
    PACKD_CHECK(e.method == 0, where, " is compressed (method ", e.method, e.method == 8 ? ", deflate" : "",
                "); packd reads only stored (uncompressed) entries, which is what torch.save writes");
    PACKD_CHECK((e.flags & 1) == 0, where, " is encrypted");
    PACKD_CHECK(e.compressed_size == e.size, where, " is stored but its compressed size ", e.compressed_size,
                " differs from its size ", e.size);
    PACKD_CHECK(detail::fits(e.header_offset, 30, size_), where, ": its local header at byte ", e.header_offset,
                " lies outside the archive (", size_, " bytes; truncated?)");
    const uint8_t* h = data_ + e.header_offset;
    PACKD_CHECK(detail::le32(h) == 0x04034b50, where, ": no local file header at byte ", e.header_offset);
    const uint64_t name_len = detail::le16(h + 26), extra_len = detail::le16(h + 28);
    const uint64_t begin = e.header_offset + 30 + name_len + extra_len;
    PACKD_CHECK(begin <= size_ && std::string_view(reinterpret_cast<const char*>(h + 30), name_len) == e.name, where,
                ": the local header names a different entry");
    PACKD_CHECK(detail::fits(begin, e.size, size_), where, ": its ", e.size, " bytes at byte ", begin,
                " run past the end of the archive (", size_, " bytes; truncated?)");
    return {data_ + begin, std::size_t(e.size)};
  }

  std::span<const uint8_t> read(const std::string& name) const {
    const ZipEntry* e = find(name);
    PACKD_CHECK(e != nullptr, source_, ": the archive has no entry '", name, "'");
    return read(*e);
  }

 private:
  void parse_directory() {
    using detail::fits;
    using detail::le16;
    using detail::le32;
    using detail::le64;
    // The end-of-central-directory record: 22 bytes + a comment of up to 65535 bytes, at the end.
    PACKD_CHECK(size_ >= 22, source_, ": no zip end-of-central-directory record; the file is truncated or not a zip "
              "archive (", size_, " bytes)");
    std::size_t eocd = size_;
    const std::size_t lowest = size_ - 22 > 65535 ? size_ - 22 - 65535 : 0;
    for (std::size_t p = size_ - 22 + 1; p-- > lowest;) {
      if (le32(data_ + p) == 0x06054b50 && p + 22 + le16(data_ + p + 20) <= size_) {
        eocd = p;
        break;
      }
    }
    PACKD_CHECK(eocd != size_, source_,
                ": no zip end-of-central-directory record; the file is truncated or not a zip archive");
    const uint8_t* e = data_ + eocd;
    uint64_t count = le16(e + 10), cd_size = le32(e + 12), cd_offset = le32(e + 16);
    const bool classic_saturated = le16(e + 8) == 0xffff || count == 0xffff || cd_size == 0xffffffff ||
                                   cd_offset == 0xffffffff;
    PACKD_CHECK(classic_saturated || (le16(e + 4) == 0 && le16(e + 6) == 0 && le16(e + 8) == count), source_,
                ": multi-disk zip archives are not supported");
    // A zip64 locator sits right before the classic record; it points at the zip64 record.
    if (eocd >= 20 && le32(data_ + eocd - 20) == 0x07064b50) {
      const uint8_t* loc = data_ + eocd - 20;
      const uint64_t z64 = le64(loc + 8);
      PACKD_CHECK(fits(z64, 56, eocd - 20) && le32(data_ + z64) == 0x06064b50, source_,
                  ": the zip64 end-of-central-directory locator points at byte ", z64,
                  ", where there is no zip64 record (truncated or corrupt archive)");
      const uint8_t* r = data_ + z64;
      PACKD_CHECK(le32(r + 16) == 0 && le32(r + 20) == 0 && le64(r + 24) == le64(r + 32), source_,
                  ": multi-disk zip archives are not supported");
      count = le64(r + 32), cd_size = le64(r + 40), cd_offset = le64(r + 48);
    } else {
      PACKD_CHECK(!classic_saturated, source_, ": the end-of-central-directory record needs a zip64 record, "
                  "which is missing (corrupt archive)");
    }
    PACKD_CHECK(fits(cd_offset, cd_size, size_), source_, ": the central directory (", cd_size, " bytes at byte ",
                cd_offset, ") lies outside the file of ", size_, " bytes; the file is truncated or corrupt");
    PACKD_CHECK(count <= cd_size / 46, source_, ": the central directory of ", cd_size, " bytes cannot hold ", count,
                " entries (corrupt archive)");
    entries_.reserve(std::size_t(count));
    uint64_t p = cd_offset;
    const uint64_t cd_end = cd_offset + cd_size;
    for (uint64_t i = 0; i < count; ++i) {
      PACKD_CHECK(fits(p, 46, cd_end) && le32(data_ + p) == 0x02014b50, source_, ": central directory entry ", i,
                  " at byte ", p, " is missing or corrupt");
      const uint8_t* c = data_ + p;
      ZipEntry z;
      z.flags = le16(c + 8);
      z.method = le16(c + 10);
      z.crc32 = le32(c + 16);
      z.compressed_size = le32(c + 20);
      z.size = le32(c + 24);
      const uint64_t name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
      z.header_offset = le32(c + 42);
      PACKD_CHECK(fits(p + 46, name_len + extra_len + comment_len, cd_end), source_, ": central directory entry ", i,
                  " runs past the end of the directory");
      z.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
      read_zip64_extra(z, c + 46 + name_len, extra_len);
      PACKD_CHECK(index_.emplace(z.name, entries_.size()).second, source_, ": the archive holds entry '", z.name,
                  "' twice");
      entries_.push_back(std::move(z));
      p += 46 + name_len + extra_len + comment_len;
    }
  }

  // The zip64 extended-information extra field (id 1) holds, in this order, the 64-bit values of
  // whichever of size, compressed size and header offset are saturated in the 32-bit header.
  void read_zip64_extra(ZipEntry& z, const uint8_t* extra, uint64_t len) const {
    const bool need_size = z.size == 0xffffffff, need_csize = z.compressed_size == 0xffffffff,
               need_offset = z.header_offset == 0xffffffff;
    if (!need_size && !need_csize && !need_offset) return;
    for (uint64_t q = 0; q + 4 <= len;) {
      const uint16_t id = detail::le16(extra + q), n = detail::le16(extra + q + 2);
      PACKD_CHECK(q + 4 + n <= len, source_, ": zip entry '", z.name, "' has a corrupt extra field");
      if (id == 1) {
        const uint8_t* v = extra + q + 4;
        uint64_t at = 0;
        auto take = [&](uint64_t& field) {
          PACKD_CHECK(at + 8 <= n, source_, ": zip entry '", z.name, "' has a short zip64 extra field");
          field = detail::le64(v + at);
          at += 8;
        };
        if (need_size) take(z.size);
        if (need_csize) take(z.compressed_size);
        if (need_offset) take(z.header_offset);
        return;
      }
      q += 4 + n;
    }
    PACKD_CHECK(false, source_, ": zip entry '", z.name, "' needs a zip64 extra field, which is missing");
  }

  const uint8_t* data_;
  std::size_t size_;
  std::string source_;
  std::vector<ZipEntry> entries_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace packd::io
