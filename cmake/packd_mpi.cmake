# PACKD_MPI: AUTO builds the MPI pieces (packd::mpi, the packd program's data parallelism, the
# 2-rank tests) when an MPI C++ library is found; ON requires it; OFF never builds them.
# packd::mpi = packd::packd + MPI::MPI_CXX + PACKD_WITH_MPI=1. Consumers using dist/mpi.hpp in
# their own projects link MPI::MPI_CXX themselves (docs/distributed.md).
set(PACKD_MPI AUTO CACHE STRING "Build the MPI communicator and data-parallel training: AUTO, ON or OFF")
set_property(CACHE PACKD_MPI PROPERTY STRINGS AUTO ON OFF)
set(PACKD_WITH_MPI 0)
if(NOT PACKD_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(PACKD_WITH_MPI 1)
    add_library(packd_mpi INTERFACE)
    add_library(packd::mpi ALIAS packd_mpi)
    target_link_libraries(packd_mpi INTERFACE packd MPI::MPI_CXX)
    target_compile_definitions(packd_mpi INTERFACE PACKD_WITH_MPI=1)
    message(STATUS "packd: MPI ON (${MPI_CXX_LIBRARY_VERSION_STRING}; mpiexec ${MPIEXEC_EXECUTABLE})")
  elseif(PACKD_MPI STREQUAL "ON")
    message(FATAL_ERROR "PACKD_MPI=ON but no MPI was found (Debian: apt-get install libopenmpi-dev openmpi-bin)")
  else()
    message(STATUS "packd: MPI not found, building without data-parallel training (PACKD_WITH_MPI=0)")
  endif()
endif()
