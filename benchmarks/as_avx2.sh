#!/usr/bin/env bash
# Run a command as if this CPU had AVX2 only (no AVX-512, so no fast bf16), e.g.
#     benchmarks/as_avx2.sh .venv/bin/python benchmarks/time_to_quality.py --seconds 60
# torch then uses its AVX2 kernels (ATEN_CPU_CAPABILITY), oneDNN its AVX2 code
# (ONEDNN_MAX_CPU_ISA), and helpers.environment.bf16_supported says False, so training
# runs in fp32 as on an AVX2-only CPU. Figures measured this way are "emulated AVX2 on an
# AVX-512 CPU": the instructions match an AVX2 CPU, the clock and caches are this one's.
set -euo pipefail
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]   (runs COMMAND with AVX2-only kernels)" >&2
    exit 2
fi
export ATEN_CPU_CAPABILITY=avx2
export ONEDNN_MAX_CPU_ISA=AVX2
exec "$@"
