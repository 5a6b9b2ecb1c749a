"""`Script`: a named Lua script, its SHA1, its flags and the contract in its header.

Every shipped script opens with its contract, after an optional shebang::

    #!lua flags=no-writes
    --[[
      Return the value of a counter, or 0 when it does not exist.

      KEYS[1]  counter key
      ARGV[1]  default value (integer)

      Returns  the counter's value as an integer.
      Errors   INVALID_ARGUMENT when the default is not an integer.
      Idempotent  yes
    ]]

``KEYS[i..n]`` (or ``ARGV[i..n]``) declares a variable tail; a trailing ``KEYS``
or ``ARGV`` entry whose description starts with ``(optional)`` may be left out.
``Returns`` is required; ``Errors`` lists the codes of ``redis.error_reply``;
``Idempotent yes`` lets the engine re-send the script when its first outcome is
unknown.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._lua import parse_shebang, strip_shebang
from .errors import ContractError

_ENTRY = re.compile(r"^(KEYS|ARGV)\[(\d+)(\.\.(?:n|N|\d+)?)?\]\s*(.*)$")
_CODE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\b[A-Z]{4,}\b")
_SECTIONS = ("Returns", "Errors", "Idempotent")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


@dataclass(frozen=True)
class Contract:
    """What a script's header promises: its inputs, its reply and its error codes."""

    purpose: str
    keys: tuple[str, ...]
    argv: tuple[str, ...]
    returns: str
    errors: tuple[str, ...] = ()
    idempotent: bool = False
    keys_variadic: bool = False
    keys_required: int | None = None  # None: all declared keys are required
    argv_variadic: bool = False
    argv_required: int = 0

    def check(self, script: str, nkeys: int, nargs: int) -> None:
        """Raise `ContractError` when *nkeys*/*nargs* do not fit this contract."""
        nk, na = len(self.keys), len(self.argv)
        need = nk if self.keys_required is None else self.keys_required
        if nkeys < need or (nkeys > nk and not self.keys_variadic):
            want = _count(nk, need, self.keys_variadic)
            raise ContractError(f"script {script} takes {want} {_noun('key', want)}, got {nkeys}")
        if nargs < self.argv_required or (nargs > na and not self.argv_variadic):
            want = _count(na, self.argv_required, self.argv_variadic)
            raise ContractError(
                f"script {script} takes {want} {_noun('argument', want)}, got {nargs}"
            )


def _noun(word: str, count: str) -> str:
    return word if count == "1" else word + "s"


def _count(fixed: int, required: int, variadic: bool) -> str:
    if variadic:
        return f"{required} or more"
    return str(fixed) if required == fixed else f"{required} to {fixed}"


def _header(body: str) -> list[str] | None:
    text = body.lstrip("\n")
    if not text.startswith("--[["):
        return None
    end = text.find("]]")
    if end == -1:
        raise ContractError("the header comment --[[ ... ]] is not closed")
    return text[4:end].splitlines()


def _entries(kind: str, found: list[tuple[int, bool, str]]) -> tuple[tuple[str, ...], bool]:
    found.sort()
    if [i for i, _, _ in found] != list(range(1, len(found) + 1)):
        raise ContractError(f"{kind} entries must be numbered 1, 2, 3, ... in the header")
    variadic = any(v for _, v, _ in found)
    if variadic and not found[-1][1]:
        raise ContractError(f"only the last {kind} entry may be variadic ([i..n])")
    return tuple(d for _, _, d in found), variadic


def parse_contract(source: str) -> Contract | None:
    """Parse the contract header of *source*; ``None`` when it has none.

    Raise `ContractError` for a header that is there but incomplete.
    """
    lines = _header(strip_shebang(source))
    if lines is None:
        return None
    purpose: list[str] = []
    found: dict[str, list[tuple[int, bool, str]]] = {"KEYS": [], "ARGV": []}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in lines:
        line = raw.strip()
        entry = _ENTRY.match(line)
        if entry:
            kind, index, dots, desc = entry.groups()
            found[kind].append((int(index), bool(dots), desc.strip()))
            current = None
            continue
        word = line.split(" ", 1)[0].rstrip(":")
        if word in _SECTIONS:
            current = sections.setdefault(word, [])
            current.append(line[len(word) :].strip(" :"))
        elif current is not None and line:
            current.append(line)
        elif not line:
            current = None
        elif not found["KEYS"] and not found["ARGV"] and not sections:
            purpose.append(line)
    if not purpose:
        raise ContractError("the header must open with the script's purpose")
    if "Returns" not in sections:
        raise ContractError("the header must say what the script Returns")
    keys, keys_variadic = _entries("KEYS", found["KEYS"])
    argv, argv_variadic = _entries("ARGV", found["ARGV"])
    required = sum(1 for d in argv if not d.startswith("(optional)"))
    keys_required = sum(1 for d in keys if not d.startswith("(optional)"))
    idem = " ".join(sections.get("Idempotent", ["no"])).lower().startswith("yes")
    return Contract(
        purpose=" ".join(purpose),
        keys=keys,
        argv=argv,
        returns=" ".join(sections["Returns"]),
        errors=tuple(dict.fromkeys(_CODE.findall(" ".join(sections.get("Errors", []))))),
        idempotent=idem,
        keys_variadic=keys_variadic,
        keys_required=keys_required if keys_required != len(keys) else None,
        argv_variadic=argv_variadic,
        argv_required=required,
    )


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True)
class Script:
    """A Lua script under a name: its exact source, SHA1, shebang flags and contract.

    Scripts are immutable values; an engine supplies the connection at run time.
    The SHA1 is computed on the UTF-8 bytes sent to the server. ``legacy_source``
    is the same script with its shebang line blanked, for servers before 7.0.
    """

    name: str
    source: str
    contract: Contract | None = None
    sha: str = field(init=False)
    flags: frozenset[str] = field(init=False)
    legacy_source: str = field(init=False, repr=False)
    legacy_sha: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"script name must be a word like 'locks_acquire', got {self.name!r}")
        if not isinstance(self.source, str):
            raise TypeError(f"script source must be str, not {type(self.source).__name__}")
        if not self.source.strip():
            raise ValueError(f"script {self.name} has an empty source")
        try:
            shebang = parse_shebang(self.source)
        except ValueError as exc:
            raise ContractError(f"script {self.name}: {exc}") from None
        legacy = strip_shebang(self.source)
        object.__setattr__(self, "sha", _sha1(self.source))
        object.__setattr__(self, "flags", shebang[1] if shebang else frozenset())
        object.__setattr__(self, "legacy_source", legacy)
        object.__setattr__(self, "legacy_sha", _sha1(legacy))

    @classmethod
    def from_source(cls, name: str, source: str, *, require_contract: bool = False) -> Script:
        """Build a script from text, parsing its contract header if it has one."""
        try:
            contract = parse_contract(source)
        except ContractError as exc:
            raise ContractError(f"script {name}: {exc}") from None
        if contract is None and require_contract:
            raise ContractError(f"script {name} has no contract header (--[[ ... ]])")
        return cls(name, source, contract)

    @classmethod
    def from_file(cls, path: str | Path, *, name: str | None = None) -> Script:
        """Read a ``.lua`` file; its name defaults to the file's stem."""
        file = Path(path)
        return cls.from_source(name or file.stem, file.read_text(encoding="utf-8"))

    @property
    def read_only(self) -> bool:
        """True for ``#!lua flags=no-writes`` scripts, run with EVALSHA_RO."""
        return "no-writes" in self.flags

    @property
    def idempotent(self) -> bool:
        """True when the contract says running the script twice does no harm."""
        return self.contract is not None and self.contract.idempotent

    @property
    def numkeys(self) -> int | None:
        """The number of KEYS the contract declares; ``None`` when not fixed."""
        if (
            self.contract is None
            or self.contract.keys_variadic
            or self.contract.keys_required is not None
        ):
            return None
        return len(self.contract.keys)

    def __repr__(self) -> str:
        return f"Script({self.name!r}, sha={self.sha[:12]}, flags={sorted(self.flags)})"
