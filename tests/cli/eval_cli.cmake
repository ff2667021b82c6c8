# `packd train`, `packd eval` and `packd infer` end to end (run by CTest as cli:eval_infer):
#   cmake -DPACKD=<packd> -DFIXTURE=<make_eval_fixture> -DWORK_DIR=<dir> -P eval_cli.cmake
# A tiny synthetic set and run (make_eval_fixture), then the protocol on the held-out category
# through the CLI: the reports exist and parse, every run records its supports, the overlays are
# there, bad input fails early with a message; infer prints a finite score per image.
cmake_minimum_required(VERSION 3.20)
foreach(v PACKD FIXTURE WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "eval_cli.cmake: -D${v}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(DATA ${WORK_DIR}/data)
set(RUN ${WORK_DIR}/run)
set(OUT ${WORK_DIR}/report)

# Runs a command; EXPECT_RC: its exit status; EXPECT_TEXT: a regex its stdout + stderr must match.
function(run_step name)
  cmake_parse_arguments(S "" "EXPECT_RC;EXPECT_TEXT" "COMMAND" ${ARGN})
  execute_process(COMMAND ${S_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT DEFINED S_EXPECT_RC)
    set(S_EXPECT_RC 0)
  endif()
  if(NOT rc EQUAL S_EXPECT_RC)
    message(FATAL_ERROR "${name}: exit status ${rc}, expected ${S_EXPECT_RC}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  if(DEFINED S_EXPECT_TEXT AND NOT "${out}${err}" MATCHES "${S_EXPECT_TEXT}")
    message(FATAL_ERROR "${name}: output does not match '${S_EXPECT_TEXT}'\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run_step(fixture COMMAND ${FIXTURE} ${DATA} ${RUN})

# packd train on the same data: leave-one-out (ring held out), a few steps, then --resume to more
# steps; the checkpoint and a log line per step. Bad input fails before training.
set(TRAIN_ARGS --data ${DATA} --dataset mvtec --width 2 --image-size 64 --batch-size 4
    --cats-per-batch 2 --prototypes 4 --epochs 0 --checkpoint-every 2 --no-progress --out ${WORK_DIR}/cli_run)
run_step(train EXPECT_TEXT "3 training categories \\(ring held out\\)"
  COMMAND ${PACKD} train ${TRAIN_ARGS} --holdout ring --shots 1 --max-steps 3)
run_step(train_resume EXPECT_TEXT "resumed" COMMAND ${PACKD} train ${TRAIN_ARGS} --holdout ring --shots 1 --max-steps 5 --resume)
file(STRINGS ${WORK_DIR}/cli_run/log.jsonl log_lines)
list(LENGTH log_lines n)
if(NOT n EQUAL 5)
  message(FATAL_ERROR "train --resume: log.jsonl has ${n} lines, expected 5")
endif()
run_step(train_bad_switch EXPECT_RC 105 EXPECT_TEXT "sometimes not in"
  COMMAND ${PACKD} train ${TRAIN_ARGS} --holdout ring --shots 1 --integrate sometimes)
run_step(train_bad_holdout EXPECT_RC 1 EXPECT_TEXT "no such category"
  COMMAND ${PACKD} train ${TRAIN_ARGS} --holdout nope)
run_step(train_too_many_shots EXPECT_RC 1 EXPECT_TEXT "supports besides the query"
  COMMAND ${PACKD} train ${TRAIN_ARGS} --holdout ring --shots 9)
run_step(eval_cli_run EXPECT_TEXT "\\| ring \\|"
  COMMAND ${PACKD} eval --data ${DATA} --category ring --checkpoint ${WORK_DIR}/cli_run --shots 1 --runs 1
          --out ${WORK_DIR}/cli_report --max-overlays 0 --no-progress)

# Errors come before any work, as packd::Error messages (exit status 1).
run_step(missing_checkpoint EXPECT_RC 1 EXPECT_TEXT "no such file or directory"
  COMMAND ${PACKD} eval --data ${DATA} --category ring --checkpoint ${WORK_DIR}/nothing --out ${OUT})
run_step(unknown_category EXPECT_RC 1 EXPECT_TEXT "unknown in mvtec data set"
  COMMAND ${PACKD} eval --data ${DATA} --category nope --checkpoint ${RUN} --out ${OUT})
run_step(too_many_shots EXPECT_RC 1 EXPECT_TEXT "train/good holds only 5"
  COMMAND ${PACKD} eval --data ${DATA} --category ring --checkpoint ${RUN} --shots 2 8 --out ${OUT})
if(EXISTS ${OUT}/report.json)
  message(FATAL_ERROR "a failed eval wrote ${OUT}/report.json")
endif()
run_step(help EXPECT_TEXT "--max-overlays" COMMAND ${PACKD} eval --help)

# The protocol on the held-out category (and a training one) with k = 1, 2 and 2 runs.
run_step(eval EXPECT_TEXT "\\| ring \\|"
  COMMAND ${PACKD} eval --data ${DATA} --dataset mvtec --category ring --category disc --checkpoint ${RUN}
          --shots 1 2 --runs 2 --out ${OUT} --max-overlays 2 --threads 2 --no-progress)
foreach(f report.json report.csv report.md report.html)
  if(NOT EXISTS ${OUT}/${f})
    message(FATAL_ERROR "eval wrote no ${OUT}/${f}")
  endif()
endforeach()
file(READ ${OUT}/report.json json)
string(JSON format GET "${json}" format)
if(NOT format STREQUAL "packd.eval")
  message(FATAL_ERROR "report.json: format '${format}'")
endif()
foreach(cat ring disc)
  foreach(k 1 2)
    string(JSON nruns LENGTH "${json}" categories ${cat} shots ${k} runs)
    if(NOT nruns EQUAL 2)
      message(FATAL_ERROR "report.json: ${cat} k=${k} has ${nruns} runs, expected 2")
    endif()
    foreach(r 0 1)
      string(JSON nsup LENGTH "${json}" categories ${cat} shots ${k} runs ${r} supports)
      if(NOT nsup EQUAL k)
        message(FATAL_ERROR "report.json: ${cat} k=${k} run ${r} records ${nsup} supports")
      endif()
      string(JSON auroc GET "${json}" categories ${cat} shots ${k} runs ${r} image_auroc)
      if(auroc LESS 0 OR auroc GREATER 1)
        message(FATAL_ERROR "report.json: ${cat} k=${k} run ${r} image AUROC ${auroc}")
      endif()
    endforeach()
    string(JSON mean GET "${json}" categories ${cat} shots ${k} mean pixel_auroc)
  endforeach()
  string(JSON noverlays LENGTH "${json}" categories ${cat} overlays)
  if(NOT noverlays EQUAL 4)  # 2 per k, run 0 only
    message(FATAL_ERROR "report.json: ${cat} has ${noverlays} overlays, expected 4")
  endif()
  string(JSON file GET "${json}" categories ${cat} overlays 0 file)
  if(NOT EXISTS ${OUT}/${file})
    message(FATAL_ERROR "overlay ${OUT}/${file} is missing")
  endif()
endforeach()
file(READ ${OUT}/report.html html)
foreach(needle "ring" "disc" "data:image/png;base64,")
  string(FIND "${html}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "report.html does not mention '${needle}'")
  endif()
endforeach()

# infer on two images (one of another size): a finite score each, an overlay PNG each.
run_step(infer EXPECT_TEXT "score [0-9]"
  COMMAND ${PACKD} infer --checkpoint ${RUN} --support ${DATA}/ring/train/good/000.png ${DATA}/ring/train/good/001.png
          --image ${DATA}/ring/test/good/000.png --image ${DATA}/disc/test/good/001.png --out ${WORK_DIR}/infer/map.png)
string(REGEX MATCHALL "score [0-9]+\\.[0-9]+" scores "${last_output}")
list(LENGTH scores n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "infer printed ${n} finite scores, expected 2:\n${last_output}")
endif()
foreach(f map_000.png map_001.png)
  if(NOT EXISTS ${WORK_DIR}/infer/${f})
    message(FATAL_ERROR "infer wrote no ${WORK_DIR}/infer/${f}")
  endif()
endforeach()
message(STATUS "packd eval / infer CLI: ok")
