#pragma once
// Errors. Two tiers, after c10's TORCH_CHECK / TORCH_INTERNAL_ASSERT:
//   PACKD_CHECK(cond, parts...)  a user error (bad shape, dtype, flag, file): always on, throws
//                                packd::Error whose message is the parts streamed together.
//   PACKD_ASSERT(cond, parts...) a packd bug: always on, throws packd::Error marked "internal".
// Library code never aborts: every failure is an exception the caller can catch.
#include <sstream>
#include <stdexcept>
#include <string>

namespace packd {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failed CUDA, cuBLAS or cuDNN call (thrown by the CUDA backend; declared here so that code
// without CUDA headers can catch it).
class CudaError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
[[noreturn]] inline void throw_error(const std::string& msg) { throw Error(msg); }
}  // namespace detail
}  // namespace packd

#define PACKD_CHECK(cond, ...)                                                   \
  do {                                                                           \
    if (!(cond)) [[unlikely]] ::packd::detail::throw_error(::packd::detail::concat(__VA_ARGS__)); \
  } while (0)

#define PACKD_ASSERT(cond, ...)                                                            \
  do {                                                                                     \
    if (!(cond)) [[unlikely]]                                                              \
      ::packd::detail::throw_error(::packd::detail::concat(                                \
          "packd internal error at " __FILE__ ":", __LINE__, ": (" #cond ") " __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
