#!/usr/bin/env bash
# Packs the Debian build dependencies that the bare GPU machine lacks (Catch2, Google Benchmark,
# CLI11, nlohmann-json, stb) into .gpu-deps/ (git-ignored), with their /usr layout, so that a
# `device` run can carry them (carry: [".gpu-deps"]) and scripts/gpu-check.sh builds with them.
# That machine has nvcc, CMake, ninja, g++ and PyTorch's CUDA libraries, but none of these.
#   scripts/pack-gpu-deps.sh        (about 5 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu-deps
mkdir -p .gpu-deps
for pkg in catch2 libbenchmark-dev libbenchmark1debian libcli11-dev nlohmann-json3-dev libstb-dev libstb0; do
  dpkg -L "$pkg" >/dev/null 2>&1 || { echo "pack-gpu-deps: Debian package $pkg is not installed" >&2; exit 1; }
  dpkg -L "$pkg" | while read -r f; do
    case "$f" in /usr/share/doc/*|/usr/share/man/*) continue ;; esac
    if [ -f "$f" ] || [ -L "$f" ]; then
      mkdir -p ".gpu-deps$(dirname "$f")"
      cp -P "$f" ".gpu-deps$f"
    fi
  done
done
du -sh .gpu-deps
