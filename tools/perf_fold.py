#!/usr/bin/env python3
"""Folds `perf script` stacks of a CNN benchmark into the parts BENCHMARKS.md profiles.

    perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -o perf.data \
        target/release/deps/train_step-HASH 8 [--recommended]
    perf script -i perf.data | tools/perf_fold.py

Each sample goes to the first phase its stack names (innermost first: the Winograd or direct
forward, the im2col forward, the backward, Adam, ...) and to the kind of its innermost
frame that is not inlined library code (GEMM, memmove, memset, im2col, ...). Inlined frames
do not decide the phase. Prints percentages of
all samples: by phase, by kind, and by both.
"""
import sys, collections, re
phase_rules = [
    ("winograd_backward::", "conv bwd (Winograd, layers 2+)"),
    ("direct::backward", "conv bwd (direct, layer 1)"),
    ("winograd::", "conv fwd (Winograd, layers 2+)"),
    ("direct::", "conv fwd (direct, layer 1)"),
    ("fused::forward_image", "conv fwd (im2col+gemm)"),
    ("fused::backward_image", "conv bwd (im2col+gemm, col2im)"),
    ("adam_step", "Adam + EMA"),
    ("dfdx::tensor_ops::matmul", "dense matmul (dfdx)"),
    ("Model::input", "input copy/check"),
    ("read_tensor", "read_tensor copies"),
    ("Model::live", "live (weight copies)"),
    ("fused_forward", "fused_forward (alloc etc)"),
    ("fused_backward", "fused_backward (sum etc)"),
    ("backward_batch", "fused_backward (sum etc)"),
    ("add_into", "add_into grads"),
    ("dfdx", "other dfdx"),
]
def leaf_kind(sym):
    if "col2im" in sym: return "col2im"
    if "matmul::matmul" in sym: return "gemm"
    if "microkernel" in sym or "gemm_basic" in sym or "gemm_common" in sym or "pack" in sym and "gemm" in sym: return "gemm"
    if "memmove" in sym or "memcpy" in sym: return "memmove"
    if "memset" in sym: return "memset"
    if "im2col" in sym: return "im2col"
    if "col2im" in sym: return "col2im"
    if "malloc" in sym or "free" in sym or "calloc" in sym or "_int_" in sym: return "alloc"
    if sym.startswith("[k]") or "kernel" in sym and "[" in sym: return "kernel"
    return "self:" + sym[:60]
samples = collections.Counter(); phases = collections.Counter(); leaves=collections.Counter()
total = 0
stack = []
def flush():
    global total
    if not stack: return
    total += 1
    lk = None
    for fr in stack:
        k = leaf_kind(fr)
        if not k.startswith("self:") or "support::" in fr:
            lk = k; break
    if lk is None: lk = leaf_kind(stack[0])
    ph = "other"
    for fr in stack:
        # An inlined frame (e.g. winograd::load inside the backward kernel) names a helper, not
        # the phase; its caller's frame follows.
        if "(inlined)" in fr: continue
        hit = None
        for pat, name in phase_rules:
            if pat in fr: hit = name; break
        if hit: ph = hit; break
    samples[(ph, lk)] += 1; phases[ph] += 1; leaves[lk] += 1
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        flush(); stack = []; continue
    if line.startswith(("\t", " ")):
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            sym = parts[1]
            sym = re.sub(r"\+0x[0-9a-f]+ ", " ", sym)
            if "([kernel" in sym: sym = "[k]" + sym
            stack.append(sym)
flush()
print(f"samples {total}")
print("== phases"); [print(f"{100*c/total:6.2f}%  {k}") for k,c in phases.most_common()]
print("== leaf kinds"); [print(f"{100*c/total:6.2f}%  {k}") for k,c in leaves.most_common(15)]
print("== phase x leaf"); [print(f"{100*c/total:6.2f}%  {k[0]:28} {k[1]}") for k,c in samples.most_common(40)]
