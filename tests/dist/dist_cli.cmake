# `mpirun -np 2 packd train` and `mpirun -np 2 packd eval` against one process (CTest: cli:distributed):
#   cmake -DPACKD=<packd> -DFIXTURE=<make_eval_fixture> -DCOMPARE=<dist_compare> -DMPIRUN="<mpirun;args;-np>"
#         -DWORK_DIR=<dir> -P dist_cli.cmake
# - one training step of 2 ranks x 2 queries with --sync-bn equals one process's step with 4
#   queries to float32 round-off (1e-3 of each group's scale: the prototype convs' gradients pass
#   a softmax over every location; tests/dist/mpi_test_dist.cpp checks three steps in float64 to 1e-9)
# - ranks started with different switches stop before training, naming the rank and the key
# - a batch that does not split over the ranks, and a single-process command under mpirun, fail
# - the distributed evaluation writes the report one process writes (but for the timings)
cmake_minimum_required(VERSION 3.20)
foreach(v PACKD FIXTURE COMPARE MPIRUN WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "dist_cli.cmake: -D${v}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(DATA ${WORK_DIR}/data)

function(run_step name)
  cmake_parse_arguments(S "FAILS" "EXPECT_TEXT" "COMMAND" ${ARGN})
  execute_process(COMMAND ${S_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(S_FAILS AND rc EQUAL 0)
    message(FATAL_ERROR "${name}: succeeded, expected a failure\nstdout:\n${out}\nstderr:\n${err}")
  elseif(NOT S_FAILS AND NOT rc EQUAL 0)
    message(FATAL_ERROR "${name}: exit status ${rc}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  if(DEFINED S_EXPECT_TEXT AND NOT "${out}${err}" MATCHES "${S_EXPECT_TEXT}")
    message(FATAL_ERROR "${name}: output does not match '${S_EXPECT_TEXT}'\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

run_step(fixture COMMAND ${FIXTURE} ${DATA} ${WORK_DIR}/run)

set(TRAIN_ARGS --data ${DATA} --dataset mvtec --width 2 --image-size 64 --batch-size 4 --cats-per-batch 2
    --prototypes 4 --shots 1 --epochs 0 --max-steps 1 --holdout ring --sync-bn --no-progress)
run_step(train_one_process COMMAND ${PACKD} train ${TRAIN_ARGS} --out ${WORK_DIR}/one)
run_step(train_two_ranks EXPECT_TEXT "data-parallel over 2 ranks \\(mpi\\): 2 queries per rank per step"
  COMMAND ${MPIRUN} 2 ${PACKD} train ${TRAIN_ARGS} --out ${WORK_DIR}/two)
run_step(same_step COMMAND ${COMPARE} checkpoints ${WORK_DIR}/two/checkpoint.safetensors
                                      ${WORK_DIR}/one/checkpoint.safetensors 1e-3)

# MPMD: rank 0 and rank 1 get different learning rates.
run_step(mismatched_ranks FAILS EXPECT_TEXT "ranks disagree on the training configuration.*rank 1 differs from rank 0 in: options"
  COMMAND ${MPIRUN} 1 ${PACKD} train ${TRAIN_ARGS} --lr 1e-3 --out ${WORK_DIR}/bad : -np 1 ${PACKD} train ${TRAIN_ARGS}
          --lr 2e-3 --out ${WORK_DIR}/bad)
run_step(batch_not_split FAILS EXPECT_TEXT "cannot be split evenly over 2 ranks"
  COMMAND ${MPIRUN} 2 ${PACKD} train --data ${DATA} --dataset mvtec --width 2 --image-size 64 --batch-size 3
          --cats-per-batch 3 --prototypes 4 --shots 1 --epochs 0 --max-steps 1 --holdout ring --no-progress
          --out ${WORK_DIR}/odd)
run_step(infer_is_single_process FAILS EXPECT_TEXT "packd infer runs in one process"
  COMMAND ${MPIRUN} 2 ${PACKD} infer --checkpoint ${WORK_DIR}/run --support ${DATA}/ring/train/good/000.png
          --image ${DATA}/ring/test/good/000.png --out ${WORK_DIR}/infer.png)

set(EVAL_ARGS --data ${DATA} --category ring --category disc --checkpoint ${WORK_DIR}/run --shots 1 2 --runs 3
    --max-overlays 2 --no-progress)
run_step(eval_one_process COMMAND ${PACKD} eval ${EVAL_ARGS} --out ${WORK_DIR}/report_one)
run_step(eval_two_ranks EXPECT_TEXT "runs spread over 2 ranks"
  COMMAND ${MPIRUN} 2 ${PACKD} eval ${EVAL_ARGS} --out ${WORK_DIR}/report_two)
run_step(same_report COMMAND ${COMPARE} reports ${WORK_DIR}/report_two/report.json ${WORK_DIR}/report_one/report.json)
