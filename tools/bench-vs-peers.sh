#!/usr/bin/env bash
# Reproduces a BENCHMARKS.md row: the Python peers and ours, run alternately on the same machine.
#
#   tools/bench-vs-peers.sh [SECTION...]      (default section: train)
#
# For each round (REPS, default 1): keras_compute_bench.py --n 1024 --epochs 3 (TensorFlow `fit`
# and `predict`, the tutorial CNN at 130x130x1, batch 32), then
# `cargo bench -p support --bench peers_compare -- train`, each under /usr/bin/time -v; then the
# other sections asked for (decode survey generator epoch), each after its peer script. It ends
# with the ratios ours / peer.
#
# The runtimes a user would pick instead, section `runtimes` (the same CNN, batch 32):
#   ONNX Runtime (FP32), OpenVINO at FP32 and at its own default precision (BF16 on CPUs with
#   avx512_bf16 or AMX), and PyTorch eager channels-last, as installed and with glibc told not to
#   unmap freed memory (as our CLI does), each followed by our `train` row in the same round, and
#   ratios ours / each peer at the end. `tools/bench-vs-peers.sh train runtimes` gives the whole
#   BENCHMARKS.md table from one command.
#
# Environment:
#   PEERS_VENV   the peers' virtual environment (default ../peers-venv beside the repository);
#                created from ../shared/bench/peers/README.md when missing (pip, several GB).
#   PEERS2_VENV  the runtimes' environment (onnxruntime, openvino, torch; default ../peers2-venv),
#                created the same way when the section `runtimes` is asked for.
#   PEERS_DIR    the peer scripts (default ../shared/bench/peers)
#   REPS         rounds of peer-then-ours (default 1)
#   OUT          folder for the raw logs (default a fresh folder under /tmp)
#   CORES        run both on the first CORES cores only (taskset -c 0-(CORES-1); ours also with
#                RAYON_NUM_THREADS=CORES), for the thread-scaling rows; default: all cores
# Measure on a quiet machine: the script prints the load average before every run, and TensorFlow
# starts many threads, so on a loaded machine wall-clock ratios favour it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
peers_dir=${PEERS_DIR:-$repo/../shared/bench/peers}
venv=${PEERS_VENV:-$repo/../peers-venv}
venv2=${PEERS2_VENV:-$repo/../peers2-venv}
reps=${REPS:-1}
out=${OUT:-$(mktemp -d /tmp/bench-vs-peers.XXXXXX)}
mkdir -p "$out"
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(train)

if [ ! -f "$peers_dir/keras_compute_bench.py" ]; then
    echo "peer scripts not found in $peers_dir (set PEERS_DIR)" >&2
    exit 1
fi

# --- The peers' environment, as ../shared/bench/peers/README.md sets it up. ---------------------
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
    echo "== setting up the peer venv in $venv (from $peers_dir/README.md)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install tensorflow-cpu==2.21.0 matplotlib scikit-image pillow simplejpeg \
        opencv-python-headless scipy scikit-learn psutil "PyTurboJPEG<2"
fi
if [[ " ${sections[*]} " == *" runtimes "* ]] &&
    { [ ! -x "$venv2/bin/python" ] || ! "$venv2/bin/python" -c "import onnxruntime, openvino, torch" 2>/dev/null; }; then
    echo "== setting up the runtimes' venv in $venv2 (from $peers_dir/README.md)"
    python3 -m venv "$venv2"
    "$venv2/bin/pip" install onnxruntime openvino onnx psutil numpy torch
fi
if ! ldconfig -p 2>/dev/null | grep -q libturbojpeg; then
    echo "note: libturbojpeg is not installed (README: apt-get install -y libturbojpeg0);"
    echo "      this script does not run apt; decode_bench.py's PyTurboJPEG rows will be missing."
fi

# --- The machine. ------------------------------------------------------------------------------
flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)
simd=$(for f in $flags; do case $f in avx2 | fma | avx512* | amx*) printf '%s ' "$f" ;; esac; done)
echo "== machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "vector flags: ${simd:-none of avx2/fma/avx512*/amx*}"
lscpu | grep -E '^(L1d|L2|L3) cache' | sed 's/  */ /g'
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "logs: $out"

echo "== building the benchmarks"
(cd "$repo" && cargo bench -p support --bench peers_compare --no-run 2>&1 | tail -1)

load() { cut -d' ' -f1-3 /proc/loadavg; }

# timed NAME CMD...: runs CMD under /usr/bin/time -v, logging to $out/NAME.log.
timed() {
    local name=$1
    shift
    echo "-- $name (load average before: $(load))"
    /usr/bin/time -v -o "$out/$name.time" "$@" >"$out/$name.log" 2>&1 || {
        echo "   failed; see $out/$name.log" >&2
        tail -5 "$out/$name.log" >&2
        return 1
    }
    grep -E '=|images/s' "$out/$name.log" | sed 's/^/   /'
    sed -n 's/^\tMaximum resident set size (kbytes): /   max RSS kB: /p' "$out/$name.time"
}

pin=()
if [ -n "${CORES:-}" ]; then
    pin=(taskset -c "0-$((CORES - 1))")
    export RAYON_NUM_THREADS=$CORES
    echo "cores: the first $CORES (taskset; RAYON_NUM_THREADS=$CORES)"
fi
peer() { (cd "$peers_dir" && timed "$1" "${pin[@]}" "$venv/bin/python" "${@:2}"); }
runtime() { (cd "$peers_dir" && timed "$1" "${pin[@]}" "$venv2/bin/python" "${@:2}"); }
# glibc told to keep freed memory mapped, as our CLI's allocator setting does (peers README).
no_unmap=(env GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967295)
ours() {
    (cd "$repo" && timed "$1" "${pin[@]}" cargo bench -q -p support --bench peers_compare -- "${@:2}")
}

for r in $(seq 1 "$reps"); do
    echo "== round $r"
    for s in "${sections[@]}"; do
        case $s in
        train)
            peer "r$r-keras_compute" keras_compute_bench.py --n 1024 --epochs 3
            ours "r$r-ours_train" train
            ;;
        decode | survey)
            peer "r$r-peer_decode" decode_bench.py --reps 2
            ours "r$r-ours_$s" "$s"
            ;;
        generator)
            peer "r$r-keras_flow" keras_flow_bench.py --reps 1
            ours "r$r-ours_generator" generator
            ;;
        epoch)
            peer "r$r-keras_train" keras_train.py --epochs 2
            ours "r$r-ours_epoch" epoch
            ;;
        runtimes)
            runtime "r$r-ort" infer_bench.py --engine ort
            runtime "r$r-ov_f32" infer_bench.py --engine ov --ov-precision f32 --no-probe
            runtime "r$r-ov_default" infer_bench.py --engine ov --ov-precision ''
            runtime "r$r-torch_cl" torch_bench.py --mode channels_last
            (cd "$peers_dir" && timed "r$r-torch_cl_no_unmap" "${pin[@]}" "${no_unmap[@]}" \
                "$venv2/bin/python" torch_bench.py --mode channels_last)
            ours "r$r-ours_runtimes" train
            ;;
        *)
            echo "unknown section $s (train decode survey generator epoch runtimes)" >&2
            exit 2
            ;;
        esac
    done
done

# --- Ratios (train rows; the other sections print their rates above). -------------------------
echo "== ratios, ours / TensorFlow, per round"
for r in $(seq 1 "$reps"); do
    k=$out/r$r-keras_compute.log
    o=$out/r$r-ours_train.log
    [ -f "$k" ] && [ -f "$o" ] || continue
    tf_fit=$(sed -n 's/^fit_steady_img_per_s=//p' "$k")
    tf_pred=$(sed -n 's/^predict_b32_img_per_s=//p' "$k")
    tf_rss=$(sed -n 's/^peak_rss_mib=//p' "$k")
    our_fit=$(grep '^train_on_batch' "$o" | grep -o '[0-9.]* images/s' | head -1 | cut -d' ' -f1)
    our_pred=$(grep '^predict_proba' "$o" | grep -o '[0-9.]* images/s' | head -1 | cut -d' ' -f1)
    our_rss=$(grep '^predict_proba' "$o" | grep -o 'peak_rss=[0-9]*' | cut -d= -f2)
    awk -v a="$our_fit" -v b="$tf_fit" -v c="$our_pred" -v d="$tf_pred" -v e="$our_rss" -v f="$tf_rss" -v r="$r" 'BEGIN {
        printf "round %s: training step %.1f vs fit %.1f img/s = %.2fx; inference %.1f vs predict %.1f img/s = %.2fx; peak memory %s vs %s MiB = %.2fx\n",
            r, a, b, a / b, c, d, c / d, e, f, e / f }'
done
echo "== ratios, ours / each runtime, per round (inference; PyTorch's training step too)"
for r in $(seq 1 "$reps"); do
    o=$out/r$r-ours_runtimes.log
    [ -f "$o" ] || continue
    our_fit=$(grep '^train_on_batch' "$o" | grep -o '[0-9.]* images/s' | head -1 | cut -d' ' -f1)
    our_pred=$(grep '^predict_proba' "$o" | grep -o '[0-9.]* images/s' | head -1 | cut -d' ' -f1)
    for peer_log in ort ov_f32 ov_default torch_cl torch_cl_no_unmap; do
        p=$out/r$r-$peer_log.log
        [ -f "$p" ] || continue
        pred=$(sed -n 's/^infer_b32_img_per_s_median=//p' "$p")
        fit=$(sed -n 's/^train_step_img_per_s_median=//p' "$p")
        precision=$(sed -n 's/^ov_default_precision=//p' "$p")
        awk -v n="$peer_log" -v a="$our_pred" -v b="$pred" -v c="$our_fit" -v d="${fit:-}" \
            -v q="${precision:-}" -v r="$r" 'BEGIN {
            printf "round %s, %s%s: inference %.1f vs %.1f img/s = %.2fx", r, n,
                (q != "" ? " (" q ")" : ""), a, b, a / b
            if (d != "") printf "; training step %.1f vs %.1f img/s = %.2fx", c, d, c / d
            printf "\n" }'
    done
done
echo "load average at the end: $(load)"
