"""Read XLA's HLO text: which instructions a compiled function runs, and how many kernels.

Taught in notebooks/03_mixed_precision_and_xla.ipynb: the text comes from
``tf.function(f, jit_compile=True).experimental_get_compiler_ir(*args)(stage=...)`` with
``stage="hlo"`` (before XLA's passes) or ``stage="optimized_hlo"`` (after fusion).

An HLO module is a list of computations; one of them, marked ``ENTRY``, is what runs. Each
instruction of the entry computation is one step of the program: a ``fusion`` is one kernel
that runs a whole fused computation, while ``parameter``, ``constant``, ``tuple``,
``get-tuple-element`` and ``bitcast`` move no data (FREE_OPCODES). Plain text parsing: no
TensorFlow import.
"""

from __future__ import annotations

import re

FREE_OPCODES = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "bitcast"})

# "  ROOT %add.1 = f32[16]{0} add(%x, %y), metadata=..." -> name "add.1", shape, opcode "add".
# The shape may be a tuple "(f32[], s32[])"; the opcode is the first word followed by "(".
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<shape>.+?)\s+(?P<opcode>[a-z][a-z0-9\-]*)\("
)
_CALLS = re.compile(r"\bcalls=%?(?P<callee>[\w.\-]+)")
_HEADER = re.compile(r"^\s*(?P<entry>ENTRY\s+)?%?(?P<name>[\w.\-]+)\s*(?:\(.*\)\s*->.*)?\{\s*$")
_HINT = ("pass the text of tf.function(f, jit_compile=True)"
         ".experimental_get_compiler_ir(x)(stage='hlo' or 'optimized_hlo')")


def _check_text(hlo_text) -> str:
    if not isinstance(hlo_text, str):
        raise TypeError(f"hlo_text must be a string of HLO text: {_HINT}; "
                        f"got {type(hlo_text).__name__}")
    return hlo_text


def computations(hlo_text: str) -> dict[str, list[dict]]:
    """Every computation of an HLO module: name -> its instructions, in order.

    Each instruction is a dict with ``name``, ``opcode``, ``shape`` (the result type as
    written, e.g. ``f32[1024]{0}``) and ``calls`` (the computation a fusion runs, else
    None). Raises ValueError if the text has no ENTRY computation.
    """
    _check_text(hlo_text)
    found: dict[str, list[dict]] = {}
    current = None
    entry = None
    for line in hlo_text.splitlines():
        if current is None:
            header = _HEADER.match(line)
            if header and not line.lstrip().startswith("HloModule"):
                current = header["name"]
                found[current] = []
                if header["entry"]:
                    entry = current
            continue
        if line.strip() == "}":
            current = None
            continue
        match = _INSTRUCTION.match(line)
        if match:
            calls = _CALLS.search(line)
            found[current].append({"name": match["name"], "opcode": match["opcode"],
                                   "shape": match["shape"].strip(),
                                   "calls": calls["callee"] if calls else None})
    if entry is None:
        raise ValueError(f"no ENTRY computation found in the HLO text: {_HINT}")
    found["__entry__"] = found[entry]
    return found


def entry(hlo_text: str) -> list[dict]:
    """The instructions of the ENTRY computation (the program that runs), in order."""
    return computations(hlo_text)["__entry__"]


def kernels(hlo_text: str) -> list[str]:
    """Opcodes of the entry instructions that do work (all but FREE_OPCODES), in order.

    In optimized HLO each of them is one kernel launch (a ``fusion`` runs many fused ops);
    in unoptimized HLO each element-wise op, broadcast or reshape still counts on its own.
    """
    return [i["opcode"] for i in entry(hlo_text) if i["opcode"] not in FREE_OPCODES]


def fused_opcodes(hlo_text: str) -> list[str]:
    """Opcodes of the work done inside the entry's fusions (in the computations they call)."""
    found = computations(hlo_text)
    return [inner["opcode"]
            for i in found["__entry__"] if i["opcode"] == "fusion" and i["calls"] in found
            for inner in found[i["calls"]] if inner["opcode"] not in FREE_OPCODES]
