// libFuzzer target: .pth files in the zip format (seeds: corpus/fuzz_pth_zip). Any exception
// other than packd::Error, any crash, leak, sanitizer report or hang is a finding.
#include "fuzz_pth_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  packd::fuzz::parse_pth_and_flatten(data, size);
  return 0;
}
