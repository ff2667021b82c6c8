// CTest's one visible line about the CUDA tests (test cuda:device): "Skipped" with the reason when
// no CUDA device is visible, in which case every [cuda] case and the op fixtures' CUDA runs pass
// without running; "Passed" with the device count where they really ran.
#include <cstdio>

#include "packd/backend/cuda_api.hpp"

int main() {
  if (!packd::cuda::cuda_available()) {
    std::puts("no CUDA device visible (cuda_available() is false): the CUDA test cases were skipped");
    return 77;  // SKIP_RETURN_CODE
  }
  std::printf("%d CUDA device(s) visible: the CUDA test cases ran on cuda:0\n", packd::cuda::device_count());
  return 0;
}
