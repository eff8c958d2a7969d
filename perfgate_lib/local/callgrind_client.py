"""Callgrind's client requests from Python, and which threads gate 0 counts (instructions).
Standard library only (the side process loads it by path). Why: ``docs/attribution.md``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import mmap
import os
import platform
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

# valgrind.h's x86-64 client-request sequence as ``unsigned long request(unsigned long
# args[6])``: rax = args, rdx = 0, rdi rotated by 3 + 13 + 61 + 51 = 128 bits (a no-op
# natively), ``xchg rbx, rbx`` (valgrind's marker), return rdx: 0 outside valgrind.
_AMD64_REQUEST = bytes.fromhex("31d24889f848c1c70348c1c70d48c1c73d48c1c7334887db4889d0c3")
_RUNNING_ON_VALGRIND = 0x1001
_CALLGRIND = (ord("C") << 24) | (ord("T") << 16)  # VG_USERREQ_TOOL_BASE('C', 'T')
_DUMP, _ZERO, _TOGGLE, _START = _CALLGRIND, _CALLGRIND + 1, _CALLGRIND + 2, _CALLGRIND + 4
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)
_NAME_DEF = re.compile(r"^(c?fn|c?ob)=\((\d+)\) (.*)$", re.MULTILINE)
_FN_ID = re.compile(r"\((\d+)\)")

MAX_COUNT = 2**64 - 1  # callgrind's counters are 64-bit: no total of a real dump is larger
CALLER_CHAIN = 12  # C frames recorded above each Python call (callgrind_profile.py reads them)
PYTHON_NAMES_ENV = "PERFGATE_PYTHON_NAMES"  # "0": no Python names (the cost benchmark)
VALGRIND_ARGS: tuple[str, ...] = ("--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no")
if os.environ.get(PYTHON_NAMES_ENV) != "0":  # each Python call recorded with its Python caller
    VALGRIND_ARGS += (f"--separate-callers{CALLER_CHAIN}=py_trampoline_evaluator",)
SWITCH_INTERVAL_S = 1000.0  # GIL hand-over only where a thread blocks (seconds)
# Where ZephyrWorker._execute_shard lives, newest layout first (0.2.42+, 0.2.20 ... 0.2.41).
SHARD_METHOD_HOMES = ("zephyr.worker", "zephyr.execution")


class LastDump(TypedDict):
    """One dump's file, instructions collected and the allocators' share of them."""

    dump: str
    collected: int
    allocator: int


class CallgrindUnavailable(RuntimeError):
    """Callgrind's client requests cannot be made in this process; the message says why."""


def _executable_request() -> tuple[Callable[[int], int] | None, str]:
    """(request function, "") or (None, why not): the sequence in an executable page."""
    if platform.machine() not in ("x86_64", "AMD64"):
        machine = platform.machine()
        return None, f"callgrind's client requests need x86-64 here (machine: {machine})"
    try:
        code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError, AttributeError) as exc:
        return None, (
            "this host refuses executable memory (mmap PROT_EXEC failed: "
            f"{type(exc).__name__}: {exc}), which callgrind's client requests need here; "
            "allow it (for example SELinux deny_execmem off) or run with --metric cpu"
        )
    code.write(_AMD64_REQUEST)
    address = ctypes.addressof(ctypes.c_char.from_buffer(code))
    function = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)(address)

    def request(number: int) -> int:
        args = (ctypes.c_ulong * 6)(number, 0, 0, 0, 0, 0)
        return int(function(ctypes.addressof(args)))

    request.keep_alive = code  # type: ignore[attr-defined]  # the page lives with the function
    return request, ""


class Callgrind:
    """Callgrind's client requests through ctypes, in a process run under ``valgrind`` with
    :data:`VALGRIND_ARGS` and ``--callgrind-out-file=OUT``; dumps go to ``OUT.<n>`` (from 1).
    ``active`` is False natively, and ``why_inactive`` says why."""

    def __init__(self, out_file: str | None) -> None:
        self.out_file = out_file
        self.dumps = 0
        self.count_caller = True
        self._local = threading.local()
        no_file = (None, "no --callgrind-out file given")
        self._request, self.why_inactive = _executable_request() if out_file else no_file
        self.active = bool(self._request and self._request(_RUNNING_ON_VALGRIND))
        if self._request and not self.active:
            self.why_inactive = "this process is not running under valgrind --tool=callgrind"

    def require_active(self) -> None:
        """Raise :class:`CallgrindUnavailable` naming why nothing would be counted."""
        if not self.active:
            raise CallgrindUnavailable(
                "instruction counts need this process under valgrind --tool=callgrind "
                f"on x86-64: {self.why_inactive}"
            )

    def _call(self, request: int) -> int:
        return self._request(request) if self._request is not None else 0

    def collecting(self) -> bool:
        """Whether the current thread's instructions are collected now."""
        return bool(getattr(self._local, "on", False))

    def _set_collect(self, on: bool) -> None:
        if self.active and self.collecting() != on:
            self._call(_TOGGLE)  # flips the current thread's collect state only
            self._local.on = on

    def counted(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` with its thread collected while it runs (a no-op when nested)."""

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.collecting():
                return function(*args, **kwargs)
            self._set_collect(True)
            try:
                return function(*args, **kwargs)
            finally:
                self._set_collect(False)

        wrapper.__perfgate_counted__ = True  # type: ignore[attr-defined]
        return wrapper

    def _inherit_into_threads(self) -> None:
        """Threads a collecting thread starts are collected too, except samplers (their
        loops tick with wall time)."""
        if getattr(threading.Thread.start, "__perfgate_counted__", False):
            return
        original_start = threading.Thread.start
        callgrind = self

        def start(self: threading.Thread) -> None:  # self: the thread, as in Thread.start
            if callgrind.collecting() and not _is_sampler(self):
                self.run = callgrind.counted(self.run)  # type: ignore[method-assign]
            original_start(self)

        functools.update_wrapper(start, original_start)
        start.__perfgate_counted__ = True  # type: ignore[attr-defined]
        threading.Thread.start = start  # type: ignore[method-assign]

    def count_only_shards(self) -> str:
        """Collect only Zephyr's shard work from here on; returns where ``_execute_shard``
        was found (:class:`CallgrindUnavailable` when this Zephyr has none)."""
        cls, home = _shard_worker_class()
        if not getattr(cls._execute_shard, "__perfgate_counted__", False):
            cls._execute_shard = self.counted(cls._execute_shard)
        self._inherit_into_threads()
        self.count_caller = False
        if self.active:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        return f"{home}.ZephyrWorker._execute_shard"

    def python_names(self) -> str:
        """Turn on CPython's perf trampolines (3.12+); the perf map's path, or "" when not
        (an older Python, or ``PERFGATE_PYTHON_NAMES=0``)."""
        activate = getattr(sys, "activate_stack_trampoline", None)
        if not self.active or os.environ.get(PYTHON_NAMES_ENV) == "0" or activate is None:
            return ""
        try:
            activate("perf")
        except (ValueError, OSError):
            return ""
        return f"/tmp/perf-{os.getpid()}.map"

    def start(self) -> None:
        """Instrument from here on; threads a collecting thread starts are collected too."""
        if self.active:
            self._inherit_into_threads()
            self._call(_START)

    def measure(self, work: Callable[[], Any]) -> tuple[Any, str | None]:
        """``(work(), the dump of what it collected)``, None when not active. The dump is
        read natively by the driver (:func:`read_dump`; ``docs/gate0.md``), not here."""
        if not self.active:
            return work(), None
        self._call(_ZERO)
        try:
            result = self.counted(work)() if self.count_caller else work()
        finally:
            self._call(_DUMP)
            self.dumps += 1
        return result, f"{self.out_file}.{self.dumps}"

    def count(self, work: Callable[[], Any]) -> tuple[Any, int | None]:
        """``(work(), instructions it collected less the allocators')``; None when not
        active. Reads the dump in this process (:meth:`measure` does not)."""
        result, dump = self.measure(work)
        if dump is None:
            return result, None
        counts = read_dump(dump)
        return result, counts["collected"] - counts["allocator"]


def read_dump(path: str) -> LastDump:
    """A dump's collected instructions and the allocators' share of them (counts);
    RuntimeError naming ``path`` when it holds no total, cannot be read or is no regular
    file (a side names the path: a FIFO or a device would be read without end)."""
    dump = Path(path)
    if dump.exists() and not dump.is_file():
        raise RuntimeError(f"{path} is not a regular file")
    text = dump.read_text(errors="replace")
    total = _TOTAL.search(text)
    if not total:
        raise RuntimeError(f"{path} holds no total")
    digits = total.group(1)
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
        raise RuntimeError(f"{path}: its total {digits[:24]}... is past callgrind's 64-bit counter")
    return LastDump(dump=path, collected=int(digits), allocator=allocator_cost(text, path))


# Memory allocators' own code: glibc's malloc (in libc), jemalloc (polars' _rjem_ build),
# mimalloc (why they are left out: docs/attribution.md; glibc's _int_malloc alone moved a
# stage's count by 2%).
GLIBC_MALLOC = frozenset([
    "malloc", "free", "realloc", "calloc", "memalign", "posix_memalign", "aligned_alloc",
    "valloc", "pvalloc", "_int_malloc", "_int_free", "_int_realloc", "_int_memalign",
    "_mid_memalign", "malloc_consolidate", "sysmalloc", "systrim", "alloc_perturb",
    "tcache_init", "tcache_get", "tcache_put", "arena_get2", "__libc_malloc", "__libc_free",
    "__libc_realloc", "__libc_calloc", "__libc_memalign", "_int_free_merge_chunk",
    "_int_free_create_chunk", "_int_free_maybe_consolidate",
])  # fmt: skip
ALLOCATOR_PREFIXES = ("_rjem_", "je_", "_mi_", "mi_", "unlink_chunk", "__malloc_")


def is_allocator(obj: str, name: str) -> bool:
    """Whether ``name`` (in ELF object ``obj``) is a memory allocator's own code."""
    if name.startswith(ALLOCATOR_PREFIXES):
        return True
    return name in GLIBC_MALLOC and "libc" in obj.rsplit("/", 1)[-1]


def allocator_cost(text: str, source: str = "callgrind dump") -> int:
    """Instructions the dump charges to allocators' own code (the exclusive counts of the
    functions :func:`is_allocator` names), reading only their blocks (faster than a full
    parse); RuntimeError naming ``source`` at a line it cannot read."""
    names: dict[str, dict[str, str]] = {"fn": {}, "ob": {}}
    for kind, ident, name in _NAME_DEF.findall(text):
        names[kind.lstrip("c")].setdefault(ident, name)
    positions = re.search(r"^positions:(.*)$", text, re.MULTILINE)
    n_positions = len(positions.group(1).split()) if positions else 1
    obj, total = "???", 0
    for index, block in enumerate(re.split(r"^fn=", text, flags=re.MULTILINE)):
        head = block.split("\n", 1)[0]
        ident = _FN_ID.match(head)
        if index and head.startswith("(") and not ident:
            raise RuntimeError(f"{source}: malformed line {'fn=' + head[:80]!r}")
        name = names["fn"].get(ident.group(1) if ident else "", head)
        if index and is_allocator(obj, name):
            total += _block_self_cost(block, n_positions, source)
        last_ob = re.findall(r"^ob=\((\d+)\)", block, re.MULTILINE)
        if last_ob:
            obj = names["ob"].get(last_ob[-1], "???")
    return total


def _block_self_cost(block: str, n_positions: int, source: str) -> int:
    """Self cost of one ``fn=`` block: its cost lines, except each ``calls=`` line's next."""
    total = 0
    after_calls = False
    for line in block.splitlines()[1:]:
        if line[:1].isdigit() or line[:1] in ("+", "-", "*"):
            parts = line.split()
            if not after_calls and len(parts) > n_positions:
                try:
                    total += int(parts[n_positions])
                except ValueError as exc:
                    raise RuntimeError(f"{source}: malformed line {line[:80]!r}") from exc
            after_calls = False
        elif line.startswith("calls="):
            after_calls = True
    return total


def _is_sampler(thread: threading.Thread) -> bool:
    target = getattr(thread, "_target", None)
    names = (thread.name, getattr(target, "__name__", ""))
    return any("sampler" in str(name).lower() for name in names)


def _shard_worker_class() -> tuple[Any, str]:
    for home in SHARD_METHOD_HOMES:
        try:
            module = importlib.import_module(home)
        except ImportError:
            continue
        cls = getattr(module, "ZephyrWorker", None)
        if cls is not None and callable(getattr(cls, "_execute_shard", None)):
            return cls, home
    raise CallgrindUnavailable(
        "gate 0 counts the instructions of Zephyr's shard work, but this Zephyr has no "
        f"ZephyrWorker._execute_shard in {' or '.join(SHARD_METHOD_HOMES)}"
    )
