#!/usr/bin/env bash
# One prepared GPU check (under 8 minutes, installs nothing from the network):
# bench/train_step.py for vgg19, resnet50 and mobilenet_v2 at batch 32 with XLA and
# mixed precision off and on, then the ratio table. Needs the project's venv (or
# wheels carried to the machine) and a GPU; prints JSON lines and a summary table.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
results=()
for target in vgg19 resnet50 mobilenet_v2; do
  for jit in nojit_compile jit_compile; do
    for policy in "" mixed_float16; do
      line=$(timeout 150 python bench/train_step.py --target=$target --batch=32 --repeats=5 --$jit --mixed_precision="$policy" 2>/dev/null | tail -n 1)
      echo "$line"
      results+=("$line")
    done
  done
done
python - "${results[@]}" <<'PY'
import json, sys
print(f"{'target':14s} {'jit':5s} {'policy':15s} {'a (s)':>8s} {'g (s)':>8s} {'s (s)':>8s} {'ratio':>6s} {'target share':>12s}")
for line in sys.argv[1:]:
    try:
        r = json.loads(line)
    except ValueError:
        print("(failed run)", line[:80]); continue
    print(f"{r['target']:14s} {str(r['jit_compile']):5s} {r['policy']:15s} {r['a_s']:8.4f} {r['g_s']:8.4f} {r['s_s']:8.4f} {r['ratio']:6.3f} {r['target_share']:12.3f}")
PY
