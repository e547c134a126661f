"""A fused CPU kernel for the 8 x 8 block-DCT frequency profile (paper Sec. 2, Figs. 2-5): one pass over the data.

`dct.frequency_profile` is a layout copy, a GEMM and two reductions in torch: right on a GPU, but on a CPU each step
is a separate pass over memory and the GEMM spends 64 multiply-adds per value. This kernel reads each 8 x 8 block
once, transforms it separably in SIMD registers (16 multiply-adds per value) and adds |c| and c^2 to per-frequency
accumulators, so nothing but the 64 + 64 sums is ever written. B = 8 is the paper's block and our default; other
block sizes take the torch path.

The kernel is LLVM IR generated below with explicit <8 x float> vectors, compiled for the host CPU by llvmlite's JIT
(no C compiler needed; about 0.2 s once per process) and called through ctypes, which releases the GIL, so threads
run chunks in parallel. Results are bitwise repeatable whatever the thread count: the data is cut into fixed chunks,
each chunk is summed by one thread in a fixed order, and the chunk sums are added in float64 in chunk order.

Layout: an input (..., H, W) is viewed as (rows, W); strip s is image rows 8s..8s+7 (H % 8 == 0, so strips never
straddle two images) and block (s, b) its columns 8b..8b+7. Per block, with vector lanes = the column frequency k2:
Z[r, :] = sum_j X[r, j] D[:, j] (each pixel broadcast straight from memory), then C[k1, :] = sum_r D[k1, r] Z[r, :]
(the D[k1, r] splats are constants), so no lane shuffles are needed.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

log = logging.getLogger(__name__)

BLOCK = 8
_BLOCKS_PER_CHUNK = 256  # float32 partial sums over at most this many blocks, then float64 across chunks
_V = "<8 x float>"


def _flt(v: float) -> str:
    # LLVM spells a float constant as the hex of the double with the same value.
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(np.float32(v))))[0]


def _vec(values) -> str:
    return "<" + ", ".join(f"float {_flt(v)}" for v in values) + ">"


def _fma(a: str, b: str, c: str) -> str:
    return f"call {_V} @llvm.fmuladd.v8f32({_V} {a}, {_V} {b}, {_V} {c})"


def kernel_ir(d: np.ndarray) -> str:
    """LLVM IR of `dct8_sums(x, W, nstrips, chunk, c0, c1, out, per_block)`: for each chunk c in [c0, c1) of
    `chunk` strips, writes 64 sums of |c_k| (divided by the block's |c_0| when per_block) and 64 sums of c_k^2,
    in row-major (k1, k2) order, to out[128 c : 128 c + 128]. `d` is the 8 x 8 DCT-II matrix."""
    lines = [
        f"declare {_V} @llvm.fmuladd.v8f32({_V}, {_V}, {_V})",
        f"declare {_V} @llvm.fabs.v8f32({_V})",
        "declare float @llvm.fabs.f32(float)",
        "declare float @llvm.maxnum.f32(float, float)",
        "define void @dct8_sums(ptr noalias readonly %x, i64 %W, i64 %nstrips, i64 %chunk, i64 %c0, i64 %c1,"
        " ptr noalias %out, i32 %per_block) {",
        "entry:",
        "  %nw = udiv i64 %W, 8",
        "  %stride = mul i64 %W, 8",
        "  %pb = icmp ne i32 %per_block, 0",
        *[f"  %acc{i} = alloca {_V}, align 32" for i in range(16)],  # promoted to registers by the optimiser
        "  br label %chunk.head",
        "chunk.head:",
        "  %c = phi i64 [%c0, %entry], [%c.next, %chunk.end]",
        "  %cdone = icmp uge i64 %c, %c1",
        "  br i1 %cdone, label %exit, label %chunk.body",
        "chunk.body:",
        *[f"  store {_V} zeroinitializer, ptr %acc{i}, align 32" for i in range(16)],
        "  %s0 = mul i64 %c, %chunk",
        "  %s1a = add i64 %s0, %chunk",
        "  %s1lt = icmp ult i64 %s1a, %nstrips",
        "  %s1 = select i1 %s1lt, i64 %s1a, i64 %nstrips",
        "  br label %strip.head",
        "strip.head:",
        "  %s = phi i64 [%s0, %chunk.body], [%s.next, %strip.end]",
        "  %sdone = icmp uge i64 %s, %s1",
        "  br i1 %sdone, label %chunk.end, label %strip.body",
        "strip.body:",
        "  %sbase = mul i64 %s, %stride",
        "  br label %blk.head",
        "blk.head:",
        "  %b = phi i64 [0, %strip.body], [%b.next, %blk.body]",
        "  %bdone = icmp uge i64 %b, %nw",
        "  br i1 %bdone, label %strip.end, label %blk.body",
        "blk.body:",
        "  %col = mul i64 %b, 8",
        "  %base = add i64 %sbase, %col",
    ]
    e = lines.append
    for r in range(BLOCK):  # Z[r, :] = sum_j X[r, j] D[:, j]: each pixel broadcast from memory, lanes = k2
        e(f"  %wr{r} = mul i64 %W, {r}")
        e(f"  %o{r} = add i64 %base, %wr{r}")
        for j in range(BLOCK):
            e(f"  %o{r}_{j} = add i64 %o{r}, {j}")
            e(f"  %p{r}_{j} = getelementptr float, ptr %x, i64 %o{r}_{j}")
            e(f"  %x{r}_{j} = load float, ptr %p{r}_{j}, align 4")
            e(f"  %xi{r}_{j} = insertelement {_V} poison, float %x{r}_{j}, i64 0")
            e(f"  %X{r}_{j} = shufflevector {_V} %xi{r}_{j}, {_V} poison, <8 x i32> zeroinitializer")
            e(f"  %Z{r}_0 = fmul {_V} %X{r}_0, {_vec(d[:, 0])}" if j == 0 else
              f"  %Z{r}_{j} = " + _fma(f"%X{r}_{j}", _vec(d[:, j]), f"%Z{r}_{j - 1}"))
    for k1 in range(BLOCK):  # C[k1, :] = sum_r D[k1, r] Z[r, :]
        e(f"  %C{k1}_0 = fmul {_V} {_vec([d[k1, 0]] * 8)}, %Z0_7")
        for r in range(1, BLOCK):
            e(f"  %C{k1}_{r} = " + _fma(_vec([d[k1, r]] * 8), f"%Z{r}_7", f"%C{k1}_{r - 1}"))
    e(f"  %dc = extractelement {_V} %C0_7, i64 0")  # per-block normalisation: 1 / max(|c_0|, 1e-6)
    e("  %dca = call float @llvm.fabs.f32(float %dc)")
    e(f"  %dcm = call float @llvm.maxnum.f32(float %dca, float {_flt(1e-6)})")
    e(f"  %inv1 = fdiv float {_flt(1.0)}, %dcm")
    e(f"  %inv = select i1 %pb, float %inv1, float {_flt(1.0)}")
    e(f"  %invi = insertelement {_V} poison, float %inv, i64 0")
    e(f"  %invv = shufflevector {_V} %invi, {_V} poison, <8 x i32> zeroinitializer")
    for k1 in range(BLOCK):
        e(f"  %a{k1} = call {_V} @llvm.fabs.v8f32({_V} %C{k1}_7)")
        e(f"  %an{k1} = fmul {_V} %a{k1}, %invv")
        e(f"  %A{k1} = load {_V}, ptr %acc{k1}, align 32")
        e(f"  %A{k1}n = fadd {_V} %A{k1}, %an{k1}")
        e(f"  store {_V} %A{k1}n, ptr %acc{k1}, align 32")
        e(f"  %E{k1} = load {_V}, ptr %acc{8 + k1}, align 32")
        e(f"  %E{k1}n = " + _fma(f"%C{k1}_7", f"%C{k1}_7", f"%E{k1}"))
        e(f"  store {_V} %E{k1}n, ptr %acc{8 + k1}, align 32")
    lines += [
        "  %b.next = add i64 %b, 1",
        "  br label %blk.head",
        "strip.end:",
        "  %s.next = add i64 %s, 1",
        "  br label %strip.head",
        "chunk.end:",
        "  %ob = mul i64 %c, 128",
    ]
    for i in range(16):
        e(f"  %v{i} = load {_V}, ptr %acc{i}, align 32")
        e(f"  %q{i} = add i64 %ob, {8 * i}")
        e(f"  %po{i} = getelementptr float, ptr %out, i64 %q{i}")
        e(f"  store {_V} %v{i}, ptr %po{i}, align 4")
    lines += ["  %c.next = add i64 %c, 1", "  br label %chunk.head", "exit:", "  ret void", "}"]
    return "\n".join(lines)


_BUILD_LOCK = threading.Lock()


@functools.cache
def _kernel():
    """The compiled kernel as a ctypes function, or None when llvmlite is missing or cannot JIT on this machine."""
    with _BUILD_LOCK:
        try:
            import llvmlite.binding as llvm

            from .dct import dct_matrix
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            module = llvm.parse_assembly(kernel_ir(dct_matrix(BLOCK, torch.float32).numpy()))
            module.verify()
            machine = llvm.Target.from_default_triple().create_target_machine(
                cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
            builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
            builder.getModulePassManager().run(module, builder)
            engine = llvm.create_mcjit_compiler(module, machine)
            engine.finalize_object()
        except Exception as err:  # an optional accelerator: the torch path computes the same profile
            log.warning("fused block-DCT kernel unavailable (%s); using the torch path", err)
            return None
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, *[ctypes.c_int64] * 5, ctypes.c_void_p, ctypes.c_int32)
        fn = proto(engine.get_function_address("dct8_sums"))
        fn.keep_alive = (engine, machine)  # they own the machine code: keep them as long as the function
        return fn


def available() -> bool:
    return _kernel() is not None


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="dct8")


def profile_sums(x: torch.Tensor, per_block: bool = False, threads: int | None = None) -> tuple[torch.Tensor, ...]:
    """Per-frequency sums over all 8 x 8 blocks of x (..., H, W) on the CPU, in zigzag order, as float64:
    (sum |c_k| (over |c_0| per block when per_block), sum c_k^2, number of blocks)."""
    from .dct import _check_blocks, zigzag_order
    fn = _kernel()
    if fn is None:
        raise RuntimeError("the fused block-DCT kernel is unavailable on this machine")
    _check_blocks(x, BLOCK)
    arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
    w = arr.shape[-1]
    nstrips = arr.size // (BLOCK * w)
    chunk = max(1, _BLOCKS_PER_CHUNK // (w // BLOCK))
    nchunks = -(-nstrips // chunk)
    out = np.zeros((nchunks, 2, BLOCK * BLOCK), np.float32)
    threads = max(1, min(threads or torch.get_num_threads(), nchunks))
    bounds = np.linspace(0, nchunks, threads + 1).astype(np.int64)

    def run(i: int) -> None:
        fn(arr.ctypes.data, w, nstrips, chunk, int(bounds[i]), int(bounds[i + 1]), out.ctypes.data, int(per_block))

    if threads == 1:
        run(0)
    else:
        list(_pool(threads).map(run, range(threads)))
    sums = torch.from_numpy(out.astype(np.float64).sum(0))
    zigzag = torch.tensor([r * BLOCK + c for r, c in zigzag_order(BLOCK)])
    return sums[0, zigzag], sums[1, zigzag], nstrips * (w // BLOCK)
