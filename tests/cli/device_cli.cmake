# --device of packd train, eval, infer, features and demo (run by CTest as cli:device):
#   cmake -DPACKD=<packd> -DWORK_DIR=<dir> -P device_cli.cmake
# The flag is checked before any work: an unknown value names the flag; cuda with no visible GPU
# (CUDA_VISIBLE_DEVICES empty, so the same on a GPU machine) or in a build without the CUDA
# backend is a clear error, exit status 1.
cmake_minimum_required(VERSION 3.20)
foreach(v PACKD WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "device_cli.cmake: -D${v}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/data)
# Arguments that pass CLI11's checks; nothing is read before --device is.
file(WRITE ${WORK_DIR}/image.png "not read")
set(CHECKPOINT ${WORK_DIR}/no_run)

execute_process(COMMAND ${PACKD} version OUTPUT_VARIABLE version RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "packd version: exit status ${rc}")
endif()
if(version MATCHES "CUDA backend: built")
  set(no_gpu "no CUDA device visible \\(cuda_available\\(\\) is false\\)")
else()
  set(no_gpu "packd was built without the CUDA backend \\(configure with -DPACKD_CUDA=ON\\)")
endif()

# Runs `packd ARGS` with no visible GPU; expects exit status 1 and TEXT (a regex) in stderr.
function(expect_error name text)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env CUDA_VISIBLE_DEVICES= ${PACKD} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 1)
    message(FATAL_ERROR "${name}: exit status ${rc}, expected 1\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  if(NOT "${err}" MATCHES "${text}")
    message(FATAL_ERROR "${name}: stderr does not match '${text}'\nstdout:\n${out}\nstderr:\n${err}")
  endif()
endfunction()

set(TRAIN train --data ${WORK_DIR}/data --out ${WORK_DIR}/run --all-categories --no-progress)
set(EVAL eval --data ${WORK_DIR}/data --category x --checkpoint ${CHECKPOINT} --out ${WORK_DIR}/report --no-progress)
set(INFER infer --checkpoint ${CHECKPOINT} --support ${WORK_DIR}/image.png --image ${WORK_DIR}/image.png
    --out ${WORK_DIR}/map.png)
set(FEATURES features --input ${WORK_DIR}/image.png --out ${WORK_DIR}/f.safetensors)
set(DEMO demo --out ${WORK_DIR}/demo --no-progress)

foreach(cmd TRAIN EVAL INFER FEATURES DEMO)
  expect_error(${cmd}_cuda "packd [a-z]+: error: --device cuda: ${no_gpu}" ${${cmd}} --device cuda)
  expect_error(${cmd}_cuda1 "--device cuda:1: ${no_gpu}" ${${cmd}} --device cuda:1)
  expect_error(${cmd}_tpu "--device tpu: unknown device; expected cpu, cuda or cuda:N" ${${cmd}} --device tpu)
endforeach()
expect_error(cuda_colon "--device cuda:: unknown device" ${TRAIN} --device cuda:)
expect_error(cuda_letter "--device cuda:x: unknown device" ${EVAL} --device cuda:x)
expect_error(upper_case "--device CPU: unknown device" ${INFER} --device CPU)
# The CPU is accepted: the commands get past --device to their own checks.
expect_error(train_cpu "mvtec: no categories under" ${TRAIN} --device cpu)
expect_error(eval_cpu "--checkpoint .*no_run: no such file or directory" ${EVAL} --device cpu)
message(STATUS "packd --device: ok")
