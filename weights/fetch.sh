#!/usr/bin/env bash
# Download torchvision's ImageNet weights for packd and check them.
#
#   weights/fetch.sh [NAME ...]     NAME: wide_resnet50_2 resnet18 resnet34 resnet50 (default: all)
#
# Each file goes to the folder of this script under torchvision's own name, whose hex suffix is
# the start of the file's SHA-256; a file whose hash does not start with it is deleted and the
# script fails. Files already present and correct are not downloaded again.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="https://download.pytorch.org/models"
declare -A FILES=(
  [wide_resnet50_2]=wide_resnet50_2-95faca4d.pth
  [resnet18]=resnet18-f37072fd.pth
  [resnet34]=resnet34-b627a593.pth
  [resnet50]=resnet50-0676ba61.pth
)

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(wide_resnet50_2 resnet18 resnet34 resnet50)

check() {  # file -> 0 if its SHA-256 starts with the hex in its name
  local file="$1" want got
  want="${file##*-}"
  want="${want%.pth}"
  got="$(sha256sum "${DIR}/${file}" | cut -c1-${#want})"
  [[ "${got}" == "${want}" ]]
}

download() {  # url dest
  if command -v curl >/dev/null; then
    curl -fL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -O "$2" "$1"
  else
    echo "fetch.sh: neither curl nor wget is installed" >&2
    return 1
  fi
}

for name in "${names[@]}"; do
  file="${FILES[${name}]:-}"
  if [[ -z "${file}" ]]; then
    echo "fetch.sh: unknown name '${name}' (known: ${!FILES[*]})" >&2
    exit 2
  fi
  if [[ -f "${DIR}/${file}" ]] && check "${file}"; then
    echo "${file}: present, SHA-256 prefix ok"
    continue
  fi
  echo "${file}: downloading from ${BASE}/${file}"
  download "${BASE}/${file}" "${DIR}/${file}.part"
  mv "${DIR}/${file}.part" "${DIR}/${file}"
  if ! check "${file}"; then
    echo "fetch.sh: ${file}: SHA-256 does not start with the prefix in its name; deleted (download again)" >&2
    rm -f "${DIR}/${file}"
    exit 1
  fi
  echo "${file}: SHA-256 prefix ok"
done
