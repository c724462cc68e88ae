"""Portable numerics: a job's floating-point results do not depend on which x86-64 CPU ran it.

torch (ATen's vectorised kernels, oneDNN, MKL), numpy's own SIMD loops and the OpenBLAS
that numpy and scipy ship each pick kernels by the CPU's instruction set at run time. An
AVX-512 kernel sums in another order than an AVX2 one, the last bits differ, and training
amplifies them: the same small_cnn pretraining gave three different weight files on one
machine with 0, 2 and 3 of these libraries pinned, and identical files, natively and under
``qemu-x86_64 -cpu Haswell``, with all of them pinned (docs/reproducibility.md).

``portable`` (the default) pins every one of them to AVX2 (x86-64-v3), which every x86-64
server and desktop CPU since 2015 has; ``native`` lets each pick the fastest kernel. Each
library reads its variable once, when it loads, so :func:`apply` runs when this package is
imported, before any job module imports numpy or torch: a job started by hand, by
Snakemake, by SLURM or forked from the warm server gets the same numerics. The mode comes
from ``TA_NUMERICS`` (the workflow sets it from the study's ``numerics`` key); jobs check
with :func:`check` that it was applied in time and record :func:`describe`.

Standard library only (``os``, ``sys``), as ``core`` must be: it runs in every job's
start-up, the warm client's included.
"""

from __future__ import annotations

import os
import sys

MODE_ENV = "TA_NUMERICS"
MODES = ("portable", "native")
DEFAULT_MODE = "portable"
BASELINE = "avx2"
#: What ``portable`` sets; each variable is read once, when its library loads.
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised CPU kernels (read by `import torch`)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN convolutions and matmuls (first use)
    # MKL, torch's BLAS and vector maths on x86 (first call). Not "AVX2": MKL picks other
    # code on AMD than on Intel CPUs for it (measured: exp and matmul differed between an
    # AMD EPYC and an emulated Haswell); its vendor-neutral branch is COMPATIBLE.
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's OpenBLAS (loaded with numpy)
    # numpy's dispatched SIMD loops above AVX2: numpy 2.4's names, then older ones
    # (numpy ignores names it does not know, and features this CPU lacks).
    "NPY_DISABLE_CPU_FEATURES": " ".join(
        [
            "X86_V4",
            "AVX512_ICL",
            "AVX512_SPR",
            "AVX512F",
            "AVX512CD",
            "AVX512_SKX",
            "AVX512_CLX",
            "AVX512_CNL",
            "AVX512_KNL",
            "AVX512_KNM",
        ]
    ),
}
#: Libraries that read those variables when they load: loaded earlier, they were too late.
PINNED_LIBRARIES = ("numpy", "torch")
_X86 = ("x86_64", "amd64", "i686", "i386")

_state = {"mode": None, "late": [], "applied": False}


def is_x86() -> bool:
    return os.uname().machine.lower() in _X86


def mode(environ=None) -> str:
    """The mode asked for (``TA_NUMERICS``, default portable); unknown values are kept as
    they are so that :func:`check` can name them."""
    environ = os.environ if environ is None else environ
    return environ.get(MODE_ENV, "").strip().lower() or DEFAULT_MODE


def apply(environ=None) -> None:
    """Set the portable kernel choice in ``environ`` (default: this process's), once.

    Overrides values already there: a stray ``ONEDNN_MAX_CPU_ISA`` must not silently make
    a study non-portable. On other CPU families (arm64) there is nothing to pin.
    """
    environ = os.environ if environ is None else environ
    wanted = mode(environ)
    if environ is os.environ:
        if _state["applied"]:
            return
        _state.update(
            applied=True,
            mode=wanted,
            late=[lib for lib in PINNED_LIBRARIES if lib in sys.modules],
        )
    if wanted == "portable" and is_x86():
        environ.update(PORTABLE_ENV)


def check(wanted: str | None = None) -> None:
    """Raise ValueError unless this process runs the numerics a job asks for (``wanted``,
    e.g. from its job spec; default: the environment's mode), applied before the
    libraries loaded."""
    applied = _state["mode"] or mode()
    wanted = wanted or applied
    for value in {wanted, applied}:
        if value not in MODES:
            raise ValueError(f"{MODE_ENV}={value!r}: expected one of {', '.join(MODES)}")
    if wanted != applied:
        raise ValueError(
            f"the job asks for numerics {wanted!r} but this process runs {applied!r}: "
            f"set {MODE_ENV}={wanted} in the environment that starts the job"
        )
    if applied == "portable" and is_x86() and _state["late"]:
        raise ValueError(
            f"portable numerics were applied after {', '.join(_state['late'])} loaded: "
            "import transfer_atlas first, or export the variables of "
            "transfer_atlas.core.numerics.PORTABLE_ENV before starting Python"
        )
    torch = sys.modules.get("torch")
    if applied == "portable" and is_x86() and torch is not None:
        level = torch.backends.cpu.get_cpu_capability()
        if level not in ("AVX2", "DEFAULT"):  # DEFAULT: a CPU below AVX2
            raise ValueError(f"portable numerics asked for AVX2 kernels; torch uses {level}")


def cpu_level() -> str:
    """This CPU's own vector level (``avx512``, ``avx2``, ``avx``, ``sse``, or the
    machine name elsewhere): what native numerics would use. From numpy's CPUID reading
    when numpy is loaded (an emulated CPU shows its own), else from /proc/cpuinfo."""
    if not is_x86():
        return os.uname().machine
    umath = sys.modules.get("numpy._core._multiarray_umath")  # loaded with numpy
    if umath is not None:
        has = umath.__cpu_features__
        levels = (("avx512", "AVX512F"), ("avx2", "AVX2"), ("avx", "AVX"))
        return next((level for level, flag in levels if has.get(flag)), "sse")
    try:
        with open("/proc/cpuinfo") as f:
            lines = (line for line in f if line.startswith("flags"))
            flags = next((line.split(":", 1)[1].split() for line in lines), [])
    except OSError:
        return "unknown"
    for level, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx")):
        if flag in flags:
            return level
    return "sse"


def describe() -> dict:
    """What a record says: the mode, the kernel level in force, and the CPU's own level."""
    applied = _state["mode"] or mode()
    portable = applied == "portable" and is_x86()
    info = {"mode": applied, "kernels": BASELINE if portable else "native", "cpu": cpu_level()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_kernels"] = torch.backends.cpu.get_cpu_capability().lower()
    return info


def for_children(wanted: str, environ=None) -> None:
    """Make the processes started from here (a workflow's jobs) run ``wanted``: sets
    ``TA_NUMERICS`` and sets, or for ``native`` takes back, the pinned variables (this
    process pinned them when it imported the package, before it read the study)."""
    environ = os.environ if environ is None else environ
    if wanted not in MODES:
        raise ValueError(f"numerics {wanted!r}: expected one of {', '.join(MODES)}")
    environ[MODE_ENV] = wanted
    if wanted == "portable" and is_x86():
        environ.update(PORTABLE_ENV)
    elif wanted == "native":
        for key, value in PORTABLE_ENV.items():
            if environ.get(key) == value:
                del environ[key]
