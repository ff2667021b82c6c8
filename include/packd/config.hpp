#pragma once
// Build configuration every packd header sees first.
//
// Note [CUDA configuration]: PACKD_WITH_CUDA is set to 0 or 1 by the packd CMake INTERFACE target,
// never by hand. With 1, this header makes each TU reference a symbol that only the compiled
// packd_cuda library defines, so a program that was compiled for CUDA but not linked to the backend
// fails at link time with a name that says why, instead of at run time.

#define PACKD_VERSION_MAJOR 0
#define PACKD_VERSION_MINOR 1
#define PACKD_VERSION_PATCH 0

#ifndef PACKD_WITH_CUDA
#define PACKD_WITH_CUDA 0
#endif

#if PACKD_WITH_CUDA
extern "C" int packd_error__built_with_cuda_but_not_linked_to_packd_cuda;
namespace packd::detail {
// Reading the symbol from an inline variable's initialiser keeps the reference in every TU.
inline const int cuda_link_check = packd_error__built_with_cuda_but_not_linked_to_packd_cuda;
}  // namespace packd::detail
#endif
