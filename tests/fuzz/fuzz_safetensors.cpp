// libFuzzer target: safetensors files (seeds: corpus/fuzz_safetensors), through parse_safetensors
// and the content-sniffing parse_weights. Any exception other than packd::Error, any crash, leak,
// sanitizer report or hang is a finding.
#include "packd/io/weights.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const packd::io::SafetensorsFile f = packd::io::parse_safetensors(data, size, "fuzz.safetensors");
    for (const auto& [name, t] : f.tensors)
      if (t.bytes.size() != std::size_t(t.shape.numel() * packd::dtype_size(t.dtype))) __builtin_trap();
  } catch (const packd::Error&) {
  }
  try {
    (void)packd::io::parse_weights(data, size, "fuzz.safetensors");
  } catch (const packd::Error&) {
  }
  return 0;
}
