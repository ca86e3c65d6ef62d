"""Derive, from the installed PyTorch's binaries, the CUDA operators that raise under
``torch.use_deterministic_algorithms(True)``, and write them to ``alerts.json`` beside this module.

``python -m prunelimit.guard.derive`` (``--check``: exit 1 if the committed file differs from what
the installed PyTorch gives; ``--out PATH``: write elsewhere). Needs binutils (``objdump``, ``nm``,
``c++filt``). About 20 s on one core, most of it hashing the libraries.

Method (also recorded in the file; steps 1-3 in :mod:`prunelimit.guard.binary`):

1. PyTorch raises through one function, ``at::Context::alertNotDeterministic(std::string_view
   const&)``, called with a string literal naming the caller (``"median CUDA with indices
   output"``). ``nm -D`` gives its mangled name, ``objdump -d -j .plt`` its PLT entry and GOT slot.
2. The ``.text`` of libtorch_cuda.so (CUDA kernels' host code) and libtorch_cpu.so
   (device-generic code, which alerts for CUDA tensors too) is scanned as bytes for every
   ``call``/``jmp rel32`` to the PLT entry or the symbol and ``call``/``jmp *slot(%rip)`` through
   the GOT (numpy: seconds; ``objdump -d`` of all 285 MB of libtorch_cpu.so's code: many minutes).
3. ``objdump -d`` of the enclosing function up to each site decodes the call (a byte match that
   does not decode as the call is dropped) and the string_view built on the stack before it:
   ``movq $len,off(%base)``, ``mov %reg,off+8(%base)`` from ``lea str(%rip),%reg``. The string is
   read from the file at ``str`` (``.rodata``, offsets from ``objdump -h``) and must be ``len``
   printable bytes and a NUL. The enclosing function is recorded (``c++filt``), and for one the
   library does not export, the functions that call it.
4. Each caller string maps to aten operators by :data:`OVERRIDES` (each with its reason) or else
   by :func:`normalise`; a string that maps to none stops the script, naming it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

from prunelimit.guard.alerts import CONDITIONS, DATA
from prunelimit.guard.binary import Site, demangle, scan_library

LIBRARIES = ("libtorch_cuda.so", "libtorch_cpu.so")
SUFFIXES = ("_template", "_kernel", "_impl", "_cuda", "_gpu", "_cpu", "_out", "_")
NORMALISATION = (
    "the caller string up to its first space; then, repeatedly, one of the suffixes "
    + ", ".join(f"'{s}'" for s in SUFFIXES)
    + " removed; the aten operators (overload packets, in-place and out variants included) "
    "named so, or so with a leading underscore added or removed"
)

# Caller strings whose operator the name does not give, or that alert only in some cases:
# caller -> (aten operators, condition (a key of alerts.CONDITIONS) or None, why).
OVERRIDES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "median CUDA with indices output": (
        ("median", "nanmedian"), "indices_output",
        "median_with_indices_impl serves median and nanmedian with a dim (its callers "
        "median_out_cuda and nanmedian_out_cuda, recorded with the site); no dim: no indices",
    ),
    "nll_loss2d_forward_out_cuda_template": (
        ("nll_loss2d_forward",), "reduction_not_none",
        "NLLLoss2d.cu alerts for the 'mean' and 'sum' reductions (atomicAdd), not for 'none'",
    ),
    "_histc_cuda with floating point input": (
        ("histc",), "floating_input", "the string states the condition",
    ),
    "_bincount_cuda": (("bincount",), "with_weights", "SummaryOps.cu alerts with weights"),
    "embedding_bag_backward_cuda_max": (
        ("_embedding_bag_backward", "_embedding_bag_dense_backward"), "mode_max",
        "the backward of EmbeddingBag with mode='max' (mode 2)",
    ),
    "scatter_cuda_": (
        ("scatter",), "not_reached",
        "scatter_impl sends a tensor src through index_put_ on CUDA in deterministic mode, and "
        "a scalar one to the fill kernel: this kernel is not reached",
    ),
    "scatter_reduce_cuda_kernel": (
        ("scatter",), "reduce_multiply",
        "the kernel of scatter(..., src, reduce=...) (not of scatter_reduce, whose kernel is "
        "scatter_reduce_two_cuda_kernel); deterministic mode sends 'add' through index_put_",
    ),
    "scatter_reduce_cuda_prod_": (
        ("scatter_reduce",), "reduce_prod",
        "scatter_reduce_two_cuda_kernel alerts for 'prod'; 'sum' and 'mean' go through "
        "index_put_, 'amax' and 'amin' are order-free",
    ),
    "max_unpooling2d_forward_out": (("max_unpool2d",), None, "the operator is max_unpool2d"),
    "max_unpooling3d_forward_out": (("max_unpool3d",), None, "the operator is max_unpool3d"),
    "quantized_resize_cpu_": (
        ("resize",), "quantized_self", "resize_ of a quantized tensor (quantized_resize_cpu_)"
    ),
}  # fmt: skip


def aten_names() -> set[str]:
    """The aten operators' names without namespace and trailing underscore (``put_`` -> ``put``):
    one name covers an operator's functional, in-place and out variants."""
    return {
        s.name.removeprefix("aten::").rstrip("_")
        for s in torch._C._jit_get_all_schemas()
        if s.name.startswith("aten::")
    }


def normalise(caller: str) -> str:
    """The operator name a caller string gives (see :data:`NORMALISATION`)."""
    name = caller.split()[0]
    while stem := next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name != s), ""):
        name = stem
    return name


def map_caller(caller: str, names: set[str]) -> tuple[list[str], str | None, str]:
    """(operators, condition, how) for one caller string; no operators if none is found."""
    if caller in OVERRIDES:
        ops, condition, why = OVERRIDES[caller]
        missing = [op for op in ops if op not in names]
        if missing:
            raise SystemExit(f"OVERRIDES[{caller!r}] names operators aten lacks: {missing}")
        return list(ops), condition, f"table: {why}"
    base = normalise(caller)
    ops = [n for n in dict.fromkeys((base, "_" + base, base.lstrip("_"))) if n in names]
    return ops, None, f"normalised to {base!r}"


def _alerts(sites: list[Site]) -> list[dict]:
    """One entry per caller string: its operators, condition, mapping and call sites; stops
    naming every string (or undecoded site) that maps to no operator."""
    names, by_caller = aten_names(), {}
    undecoded = [f"{s.library} {s.address:#x} in {s.function}" for s in sites if not s.caller]
    if undecoded:
        raise SystemExit(
            "call sites whose caller string was not recovered:\n" + "\n".join(undecoded)
        )
    pretty = demangle(sorted({s.function for s in sites} | {c for s in sites for c in s.callers}))
    for s in sorted(sites, key=lambda s: (s.caller, s.library, s.address)):
        by_caller.setdefault(s.caller, []).append({
            "library": s.library, "address": f"{s.address:#x}", "function": pretty[s.function],
            **({"called_by": [pretty[c] for c in s.callers]} if s.callers else {}),
        })  # fmt: skip
    out, unmapped = [], []
    for caller, where in by_caller.items():
        ops, condition, how = map_caller(caller, names)
        if condition is not None and condition not in CONDITIONS:
            raise SystemExit(f"OVERRIDES[{caller!r}]: no condition {condition!r} in CONDITIONS")
        if not ops:
            unmapped.append(f"{caller!r} ({how}; in {where[0]['function']})")
        out.append({"caller": caller, "ops": ops, "condition": condition,
                    "condition_text": CONDITIONS[condition][0] if condition else "always",
                    "mapping": how, "sites": where})  # fmt: skip
    if unmapped:
        raise SystemExit(
            "caller strings that map to no aten operator; add each to OVERRIDES in "
            f"{__file__} with the operators it belongs to:\n" + "\n".join(unmapped)
        )
    return out


def derive(log=print) -> dict:
    """The alert list of the installed PyTorch (the content of ``alerts.json``)."""
    lib = Path(torch.__file__).parent / "lib"
    missing = [name for name in LIBRARIES if not (lib / name).exists()]
    if missing:
        raise SystemExit(f"{lib} lacks {missing}: a CUDA build of PyTorch is needed")
    records, sites = [], []
    for name in LIBRARIES:
        record, found = scan_library(lib / name, log)
        records.append(record)
        sites += found
    alerts = _alerts(sites)
    return {
        "torch": torch.__version__,
        "derived_on": datetime.date.today().isoformat(),
        "derived_by": "python -m prunelimit.guard.derive",
        "method": __doc__.split("\nMethod (", 1)[1].split("\n", 1)[1].strip(),
        "normalisation": NORMALISATION,
        "libraries": records,
        "ops": sorted({op for a in alerts for op in a["ops"]}),
        "alerts": alerts,
    }


def same(a: dict, b: dict) -> bool:
    """Equal but for the date."""
    return {**a, "derived_on": None} == {**b, "derived_on": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DATA, help="where to write (default: %(default)s)"
    )
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data = derive(log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"{len(data['alerts'])} caller strings, {len(data['ops'])} operators, "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
    if args.check:
        old = json.loads(args.out.read_text()) if args.out.exists() else {}
        if not same(old, data):
            print(f"{args.out} differs from the installed torch's list: rerun without --check")
            return 1
        return 0
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
