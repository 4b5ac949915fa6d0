#!/usr/bin/env bash
# The GPU checks, as one prepared run on a lent GPU machine (no registry there, Python 3.12, its
# own torch). Prepare here once (and keep .whl out of git: echo /.whl/ >> .git/info/exclude):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl soundfile cffi pycparser soxr mutagen platformdirs typer==0.28.0 pyinstrument
#   HNSWLIB_NO_NATIVE=1 python3.12 -m pip wheel --no-deps hnswlib==0.8.0 -w .whl
#   PYTHONPATH=. python bench/gpu/standin_minilm.py describe .whl/minilm
# then run `bash bench/gpu/check.sh OUTDIR` there with .whl carried.
set -u
repo=$PWD out=${1:-/tmp/gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 SITE=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE .whl/*.whl || exit 1
python3 bench/gpu/standin_minilm.py install .whl/minilm $SITE || exit 1  # random weights: tests only
export PYTHONPATH=$SITE:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, torch.cuda.get_device_name())"

echo "== indexing throughput (default checkpoint; decode ceiling in the same runs)"
timeout 330 python3 bench/index_throughput.py --device cuda --engines torch,numpy --batch-sizes auto,16 \
  --workers "${WORKERS:-15}" --files "${FILES:-600}" --runs "${RUNS:-3}" 2>&1 | tee "$out/bench.log"

echo "== where the torch engine's time goes (pyinstrument, one run)"
python3 -c "import pyinstrument" 2>/dev/null && (cd /tmp && python3 -c "
import sys; sys.path.insert(0, '$repo/bench'); from index_throughput import write_clips; from pathlib import Path
write_clips(Path('/tmp/prof-music'), ${FILES:-600}, 30.0, 16)" && MUSER_HOME=/tmp/prof-home timeout 120 \
  python3 -m pyinstrument -o "$out/index_profile.txt" -m muser_cli.main index /tmp/prof-music --device cuda \
  --workers "${WORKERS:-15}" --json)

echo "== CUDA tests"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/engines/test_cuda.py "tests/core/test_checkpoint.py::test_loads_on_cuda" \
  2>&1 | tee "$out/tests.log" | tail -15

echo "== muser tag --device cuda examples/ (default checkpoint)"
timeout 60 python3 -m muser_cli.main tag examples/ --device cuda --json > "$out/tag.jsonl" 2> "$out/tag.err"
echo "tag exit $?, $(wc -l < "$out/tag.jsonl") rows"; tail -3 "$out/tag.err"
