#!/usr/bin/env bash
# Fetches DJL's build of libtorch for one CUDA flavor into a folder, at image build time. It mirrors what DJL's
# ai.djl.pytorch.jni.LibUtils.downloadPyTorch does at run time on a GPU machine (same index, same files), so the image
# holds exactly the libraries DJL's JNI was built against and nothing is downloaded when a pod starts.
# Usage: fetch-libtorch.sh PYTORCH_VERSION FLAVOR OUT_DIR     e.g. fetch-libtorch.sh 2.7.1 cu128 /opt/libtorch
set -euo pipefail
version="$1" flavor="$2" out="$3"
base="https://publish.djl.ai/pytorch/${version}"
classifier="linux-x86_64"
mkdir -p "$out"
curl -fsSL --retry 5 "${base}/files.txt" -o /tmp/files.txt
mapfile -t files < <(grep "^${flavor}/${classifier}/" /tmp/files.txt || true)
if [ "${#files[@]}" -eq 0 ]; then
  echo "fetch-libtorch: no ${flavor}/${classifier} files for PyTorch ${version} at ${base}/files.txt" >&2
  echo "available flavors: $(cut -d/ -f1 /tmp/files.txt | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
for line in "${files[@]}"; do
  name="$(basename "$line" .gz)"
  name="$(printf '%b' "${name//%/\\x}")"   # the index URL-encodes names (e.g. %2B)
  echo "fetch-libtorch: ${line}"
  curl -fsSL --retry 5 "${base}/${line}" | gunzip > "${out}/${name}"
done
test -s "${out}/libtorch.so" || { echo "fetch-libtorch: libtorch.so missing after download" >&2; exit 1; }
du -sh "$out"
