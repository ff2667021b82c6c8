#pragma once
// Note [Atomic writes]: files that hold state (checkpoints, weights, reports) are written to a
// temporary file in the same directory, flushed to disk with fsync, then renamed over the
// target, and the directory is fsynced. rename() is atomic on POSIX file systems, so a reader
// or a resumed run sees either the complete old file or the complete new one.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "packd/core/error.hpp"

namespace packd::io {

inline void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  PACKD_CHECK(fd >= 0, path, ": cannot create ", tmp, " (", std::strerror(errno), ")");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      PACKD_CHECK(false, path, ": write failed (", std::strerror(err), ")");
    }
    done += std::size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    PACKD_CHECK(false, path, ": fsync/close failed (", std::strerror(err), ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    PACKD_CHECK(false, path, ": rename from ", tmp, " failed (", std::strerror(err), ")");
  }
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // make the rename itself durable; failure here loses nothing already written
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace packd::io
