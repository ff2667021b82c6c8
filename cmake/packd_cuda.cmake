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
  # PUBLIC for CUDA sources only: a user's own .cu file that includes packd's kernel headers
  # (packd/cuda/*.cuh, docs/cuda.md) compiles with the same language level and nvcc flags.
  target_compile_options(packd_cuda PUBLIC $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --extended-lambda --expt-relaxed-constexpr>)
  target_include_directories(packd_cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_include_directories(packd_cuda PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/cuda> $<INSTALL_INTERFACE:include>)
  target_compile_definitions(packd_cuda PRIVATE PACKD_WITH_CUDA=1)
  target_compile_options(packd_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${PACKD_WERROR}>>:-Werror=all-warnings>)
  target_link_libraries(packd_cuda PUBLIC CUDA::cudart_static)
  # cuBLAS and cuDNN 9: from the CUDA toolkit, or (on a bare GPU machine) from PyTorch's pip wheels
  # nvidia-cublas / nvidia-cudnn-cu13: CUBLAS_ROOT / CUDNN_ROOT name the folder holding include/ and
  # lib/ (docs/cuda.md). The wheels ship only versioned sonames, hence the explicit names.
  find_path(PACKD_CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${CUBLAS_ROOT} $ENV{CUBLAS_ROOT} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include)
  find_library(PACKD_CUBLAS_LIBRARY NAMES cublas libcublas.so.13 libcublas.so.12
               HINTS ${CUBLAS_ROOT} $ENV{CUBLAS_ROOT} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
  find_library(PACKD_CUBLASLT_LIBRARY NAMES cublasLt libcublasLt.so.13 libcublasLt.so.12
               HINTS ${CUBLAS_ROOT} $ENV{CUBLAS_ROOT} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
  find_path(PACKD_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include)
  find_library(PACKD_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
               HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
  foreach(v PACKD_CUBLAS_INCLUDE_DIR PACKD_CUBLAS_LIBRARY PACKD_CUBLASLT_LIBRARY PACKD_CUDNN_INCLUDE_DIR PACKD_CUDNN_LIBRARY)
    if(NOT ${v})
      message(FATAL_ERROR "packd: the CUDA backend needs cuBLAS and cuDNN 9; ${v} was not found. "
                          "Set CUBLAS_ROOT / CUDNN_ROOT to the folder holding include/ and lib/, or -DPACKD_CUDA=OFF")
    endif()
  endforeach()
  target_include_directories(packd_cuda PRIVATE ${PACKD_CUBLAS_INCLUDE_DIR} ${PACKD_CUDNN_INCLUDE_DIR})
  target_link_libraries(packd_cuda PUBLIC ${PACKD_CUBLAS_LIBRARY} ${PACKD_CUBLASLT_LIBRARY} ${PACKD_CUDNN_LIBRARY})
  target_link_libraries(packd INTERFACE packd_cuda)
  target_compile_definitions(packd INTERFACE PACKD_WITH_CUDA=1)
  # NCCL (dist::make_nccl_communicator, cuda/dist/nccl.cu): in the CUDA toolkit here; elsewhere it may
  # live only in a pip wheel (nvidia-nccl-cu13): point NCCL_ROOT at the folder holding include/ and lib/.
  set(PACKD_NCCL AUTO CACHE STRING "Build the NCCL communicator: AUTO (when nccl.h and libnccl are found), ON or OFF")
  set_property(CACHE PACKD_NCCL PROPERTY STRINGS AUTO ON OFF)
  set(PACKD_WITH_NCCL 0)
  if(NOT PACKD_NCCL STREQUAL "OFF")
    find_path(PACKD_NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
    find_library(PACKD_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR}
                 PATH_SUFFIXES lib lib64)
    if(PACKD_NCCL_INCLUDE_DIR AND PACKD_NCCL_LIBRARY)
      set(PACKD_WITH_NCCL 1)
      target_sources(packd_cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cuda/dist/nccl.cu)
      target_include_directories(packd_cuda PRIVATE ${PACKD_NCCL_INCLUDE_DIR})
      target_link_libraries(packd_cuda PUBLIC ${PACKD_NCCL_LIBRARY})
      message(STATUS "packd: NCCL communicator ON (${PACKD_NCCL_LIBRARY})")
    elseif(PACKD_NCCL STREQUAL "ON")
      message(FATAL_ERROR "PACKD_NCCL=ON but nccl.h / libnccl were not found; set NCCL_ROOT")
    endif()
  endif()
  target_compile_definitions(packd INTERFACE PACKD_WITH_NCCL=${PACKD_WITH_NCCL})
  message(STATUS "packd: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  target_compile_definitions(packd INTERFACE PACKD_WITH_CUDA=0)
endif()
