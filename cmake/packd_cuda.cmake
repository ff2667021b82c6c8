# PACKD_CUDA: AUTO builds the CUDA backend when nvcc is found; ON requires it; OFF never builds it.
# The choice reaches every consumer only through the packd INTERFACE target (PACKD_WITH_CUDA=0/1),
# never through a hand-set macro, so two TUs of one program cannot disagree (see config.hpp).
set(PACKD_WITH_CUDA 0)
if(NOT PACKD_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(PACKD_WITH_CUDA 1)
  elseif(PACKD_CUDA STREQUAL "ON")
    message(FATAL_ERROR "PACKD_CUDA=ON but no CUDA compiler (nvcc) was found; set CMAKE_CUDA_COMPILER")
  else()
    message(STATUS "packd: nvcc not found, building without the CUDA backend (PACKD_WITH_CUDA=0)")
  endif()
endif()

if(PACKD_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)   # Hopper (H100/H200); override with -DCMAKE_CUDA_ARCHITECTURES=...
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  file(GLOB packd_cuda_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cu)
  add_library(packd_cuda STATIC ${packd_cuda_sources})
  add_library(packd::packd_cuda ALIAS packd_cuda)
  # CMake 3.25 does not know nvcc 13's C++20 flag, so it is passed directly.
  set_target_properties(packd_cuda PROPERTIES CUDA_SEPARABLE_COMPILATION OFF POSITION_INDEPENDENT_CODE ON)
  target_compile_options(packd_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  target_include_directories(packd_cuda PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/include ${CMAKE_CURRENT_SOURCE_DIR}/cuda)
  target_compile_definitions(packd_cuda PRIVATE PACKD_WITH_CUDA=1)
  target_compile_options(packd_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${PACKD_WERROR}>>:-Werror=all-warnings>)
  target_link_libraries(packd_cuda PUBLIC CUDA::cudart_static)
  target_link_libraries(packd INTERFACE packd_cuda)
  target_compile_definitions(packd INTERFACE PACKD_WITH_CUDA=1)
  message(STATUS "packd: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  target_compile_definitions(packd INTERFACE PACKD_WITH_CUDA=0)
endif()
