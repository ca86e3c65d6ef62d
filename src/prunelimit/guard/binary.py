"""Reading the installed PyTorch's machine code (for :mod:`prunelimit.guard.derive`): the
calls of the alert function in a library and the string literal each passes, with binutils
(``objdump``, ``nm``, ``c++filt``) and numpy. x86-64 ELF only.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

SYMBOL_PART = "alertNotDeterministic"


def _run(*cmd: str, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(cmd, input=stdin, check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise SystemExit(f"{cmd[0]} not found: install binutils (apt-get install binutils)") from e
    return done.stdout


@dataclass(frozen=True)
class Section:
    vma: int
    size: int
    offset: int

    def holds(self, addr: int) -> bool:
        return self.vma <= addr < self.vma + self.size


def sections(path: Path) -> dict[str, Section]:
    """The library's sections (``objdump -h``): address, size and file offset."""
    pattern = r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)"
    return {
        m[1]: Section(int(m[3], 16), int(m[2], 16), int(m[4], 16))
        for m in re.finditer(pattern, _run("objdump", "-h", str(path)), re.M)
    }


@dataclass(frozen=True)
class Target:
    """Where calls to the alert function go: its PLT entry, GOT slot and own address."""

    symbol: str
    addresses: tuple[int, ...]
    got: int | None


def alert_target(path: Path, secs: dict[str, Section]) -> Target:
    """The mangled alert function of ``path`` (``nm -D``) and the addresses calls to it use."""
    names = {ln.split()[-1] for ln in _run("nm", "-D", str(path)).splitlines() if SYMBOL_PART in ln}
    if len(names) != 1:
        raise SystemExit(f"{path.name}: expected one symbol with {SYMBOL_PART}, got {names}")
    symbol = names.pop()
    defined = _run("nm", "-D", "--defined-only", str(path))
    addresses = [int(m[1], 16) for m in re.finditer(rf"^([0-9a-f]+) T {symbol}$", defined, re.M)]
    got = None
    for sec in (s for s in (".plt", ".plt.sec") if s in secs):
        out = _run("objdump", "-d", "-w", "--no-show-raw-insn", "-j", sec, str(path))
        m = re.search(rf"^([0-9a-f]+) <{symbol}@plt>:\n\s*[0-9a-f]+:\s+\S*\s*jmp\s+\*0x[0-9a-f]+"
                      r"\(%rip\)\s+# ([0-9a-f]+)", out, re.M)  # fmt: skip
        if m:
            addresses.append(int(m[1], 16))
            got = int(m[2], 16)
    return Target(symbol, tuple(addresses), got)


def _rel32(data: np.ndarray, idx: np.ndarray) -> np.ndarray:
    b = data[idx[:, None] + np.arange(4)].astype(np.int64)
    r = b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16 | b[:, 3] << 24
    return np.where(r >= 2**31, r - 2**32, r)


def branch_sites(
    path: Path, text: Section, targets: tuple[int, ...], got: int | None = None
) -> list[int]:
    """Addresses in ``text`` of byte patterns of ``call``/``jmp rel32`` to ``targets`` and of
    ``call``/``jmp *got(%rip)``: candidates, confirmed by decoding."""
    data = np.fromfile(path, dtype=np.uint8, count=text.size, offset=text.offset)
    found: list[int] = []
    chunk = 1 << 24
    for start in range(0, text.size - 6, chunk):
        stop = min(start + chunk, text.size - 6)
        block = data[start:stop]
        idx = start + np.flatnonzero((block == 0xE8) | (block == 0xE9))
        dest = text.vma + idx + 5 + _rel32(data, idx + 1)
        found += (text.vma + idx[np.isin(dest, targets)]).tolist()
        if got is not None:
            idx = start + np.flatnonzero(
                (block == 0xFF) & np.isin(data[start + 1 : stop + 1], (0x15, 0x25))
            )
            dest = text.vma + idx + 6 + _rel32(data, idx + 2)
            found += (text.vma + idx[dest == got]).tolist()
    return sorted(found)


HEAD = re.compile(r"^([0-9a-f]+) <(.+?)(?:\+0x([0-9a-f]+))?>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")


Insn = tuple[int, str, str, int]  # address, text, function (mangled), the function's start


def disassemble(path: Path, start: int, stop: int) -> list[Insn]:
    """The instructions from ``start`` to ``stop``, each with the function it belongs to."""
    out = _run("objdump", "-d", "-w", "--no-show-raw-insn", f"--start-address={start}",
               f"--stop-address={stop}", str(path))  # fmt: skip
    insns: list[Insn] = []
    func, func_start = "?", start
    for line in out.splitlines():
        if m := HEAD.match(line):
            func, func_start = m[2], int(m[1], 16) - int(m[3] or "0", 16)
        elif m := INSN.match(line):
            insns.append((int(m[1], 16), m[2], func, func_start))
    return insns


def up_to(insns: list[Insn], site: int) -> list[Insn]:
    """The instructions of the function holding ``site``, up to the one at ``site`` (last), or
    [] if none starts there."""
    hit = [i for i in insns if i[0] == site]
    if not hit:
        return []
    return [i for i in insns if i[0] <= site and i[2:] == hit[0][2:]]


def _branch_dest(text: str) -> int | None:
    """The destination of a decoded ``call``/``jmp``: its address, or the GOT slot it reads."""
    if m := re.match(r"(?:notrack\s+)?(?:call|jmp)\s+([0-9a-f]+)\s", text):
        return int(m[1], 16)
    if m := re.match(
        r"(?:notrack\s+)?(?:call|jmp)\s+\*-?0x[0-9a-f]+\(%rip\)\s+#\s+([0-9a-f]+)", text
    ):
        return int(m[1], 16)
    return None


def _read_literal(path: Path, rodata: Section, addr: int, length: int) -> str | None:
    """The ``length`` bytes at ``addr`` if they are printable ASCII followed by a NUL."""
    if not (rodata.holds(addr) and rodata.holds(addr + length)):
        return None
    with open(path, "rb") as f:
        f.seek(rodata.offset + addr - rodata.vma)
        raw = f.read(length + 1)
    ok = len(raw) == length + 1 and raw[-1] == 0 and all(32 <= b < 127 for b in raw[:-1])
    return raw[:-1].decode() if ok else None


MOVQ_LEN = re.compile(r"movq\s+\$0x([0-9a-f]+),(-?0x[0-9a-f]+)?\((%\w+)\)")
STORE = re.compile(r"mov\s+(%\w+),(-?0x[0-9a-f]+)?\((%\w+)\)")
LEA = re.compile(r"lea\s+-?0x[0-9a-f]+\(%rip\),(%\w+)\s+#\s+([0-9a-f]+)")


def recover_literal(insns: list[Insn], read) -> str | None:
    """The string_view literal passed by the call that ends ``insns``: by data flow (its length
    stored by ``movq $len``, its pointer by ``mov %reg`` 8 bytes above, ``%reg`` from ``lea``),
    else the one ``lea`` into ``.rodata`` of the function whose string has that length."""
    texts = [i[1] for i in insns[:-1]]
    lens = [(i, MOVQ_LEN.search(t)) for i, t in enumerate(texts) if MOVQ_LEN.search(t)]
    if not lens:
        return None
    _, m = lens[-1]
    length, slot, base = int(m[1], 16), int(m[2] or "0", 16), m[3]
    for j in range(len(texts) - 1, -1, -1):
        s = STORE.search(texts[j])
        if s and s[3] == base and int(s[2] or "0", 16) == slot + 8:
            for k in range(j - 1, -1, -1):
                lea = LEA.search(texts[k])
                if lea and lea[1] == s[1] and (found := read(int(lea[2], 16), length)):
                    return found
            break
    found = {read(int(lea[2], 16), length) for t in texts if (lea := LEA.search(t))} - {None}
    return found.pop() if len(found) == 1 else None


@dataclass
class Site:
    """One call of the alert function: where, in which function, with which caller string."""

    library: str
    address: int
    function: str  # mangled, as the library's symbol table names it
    function_start: int
    caller: str | None
    callers: list[str] = field(default_factory=list)  # of a function the library hides


def decode_site(path: Path, secs: dict[str, Section], site: int, target: Target) -> Site | None:
    """The call at ``site`` decoded with the instructions before it (the function's own, from its
    start if 4 KB do not reach the literal); None if ``site`` is no call to ``target``."""
    wanted = set(target.addresses) | ({target.got} if target.got else set())

    def read(addr: int, length: int) -> str | None:
        return _read_literal(path, secs[".rodata"], addr, length)

    start = site - 4096
    while True:
        insns = up_to(disassemble(path, max(start, secs[".text"].vma), site + 16), site)
        if not insns or _branch_dest(insns[-1][1]) not in wanted:
            return None
        caller = recover_literal(insns, read)
        func, func_start = insns[-1][2:]
        if caller or func_start >= start or site - func_start > 1 << 20:
            return Site(path.name, site, func, func_start, caller)
        start = func_start  # decode from the function's start: aligned, and all of it


def demangle(names: list[str]) -> dict[str, str]:
    """Mangled -> demangled (``c++filt``)."""
    if not names:
        return {}
    out = _run("c++filt", stdin="\n".join(names) + "\n").splitlines()
    return dict(zip(names, out, strict=True))


def callers_of(path: Path, text: Section, starts: set[int]) -> dict[int, list[str]]:
    """The functions (mangled) that call or jump to each of ``starts``, decoded."""
    out: dict[int, list[str]] = {s: [] for s in starts}
    for site in branch_sites(path, text, tuple(sorted(starts))):
        insns = up_to(disassemble(path, site - 32, site + 16), site)
        dest = _branch_dest(insns[-1][1]) if insns else None
        if dest in out and insns[-1][2] not in out[dest]:
            out[dest].append(insns[-1][2])
    return out


def sha256(path: Path) -> str:
    """The file's sha256, hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def scan_library(path: Path, log=print) -> tuple[dict, list[Site]]:
    """The library's record (file, size, sha256, symbol, sites) and its decoded call sites, with
    the callers of each enclosing function the library does not export."""
    t0 = time.perf_counter()
    secs = sections(path)
    target = alert_target(path, secs)
    candidates = branch_sites(path, secs[".text"], target.addresses, target.got)
    sites = [s for a in candidates if (s := decode_site(path, secs, a, target))]
    log(f"{path.name}: {len(sites)} calls of the alert function ({len(candidates)} byte matches)"
        f" in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    exported = set(re.findall(r"^[0-9a-f]+ [TW] (\S+)$", _run("nm", "-D", "--defined-only",
                                                               str(path)), re.M))  # fmt: skip
    hidden = {s.function_start for s in sites if s.function not in exported}
    callers = callers_of(path, secs[".text"], hidden) if hidden else {}
    for s in sites:
        s.callers = callers.get(s.function_start, [])
    record = {
        "file": str(path.relative_to(Path(torch.__file__).parent.parent)),
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "symbol": target.symbol,
        "call_sites": len(sites),
    }
    log(f"{path.name}: done in {time.perf_counter() - t0:.1f} s")
    return record, sites
