# Builds and runs tests/consumer against packd. MODE=subdirectory uses add_subdirectory;
# MODE=installed installs packd into WORK_DIR/prefix first and uses find_package(packd).
file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_src ${PACKD_SOURCE_DIR}/tests/consumer)
set(common -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release -DPACKD_CUDA=OFF)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}")
  endif()
endfunction()

if(MODE STREQUAL "installed")
  run(${CMAKE_COMMAND} ${common} -S ${PACKD_SOURCE_DIR} -B ${WORK_DIR}/packd-build
      -DPACKD_BUILD_TESTS=OFF -DPACKD_BUILD_EXAMPLES=OFF -DPACKD_BUILD_BENCHMARKS=OFF
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/packd-build --target install)
  run(${CMAKE_COMMAND} ${common} -S ${consumer_src} -B ${WORK_DIR}/consumer-build
      -DCONSUMER_MODE=installed -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  run(${CMAKE_COMMAND} ${common} -S ${consumer_src} -B ${WORK_DIR}/consumer-build
      -DCONSUMER_MODE=subdirectory -DPACKD_SOURCE_DIR=${PACKD_SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
