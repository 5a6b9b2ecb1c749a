"""Lex and minify Lua 5.1 source the way Redis and Valkey compile it.

Pure functions, no I/O. The lexer follows ``llex.c`` of Lua 5.1 (the interpreter
embedded in Redis and Valkey) so that every token boundary found here is the one
the server finds; :func:`minify` relies on that to drop comments and whitespace
without changing what the server compiles.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

__all__ = [
    "KEYWORDS",
    "LuaSyntaxError",
    "minify",
    "parse_shebang",
    "strip_shebang",
    "Token",
    "tokenize",
    "TokenKind",
]

TokenKind = Literal[
    "shebang", "comment", "name", "keyword", "number", "string", "long_string", "op"
]

KEYWORDS = frozenset(
    {
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
        "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    }
)  # fmt: skip

_SPACE = re.compile(r"[ \t\n\r\f\v]*")
_BREAK = re.compile(r"\r\n|\n\r|\r|\n")  # one line break, as Lua's inclinenumber counts
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# read_numeral: digits and dots, an optional exponent mark and sign, then any alnum.
_NUMBER = re.compile(r"\.?[0-9][0-9.]*(?:[eE][+-]?)?[A-Za-z0-9_]*")
_OP = re.compile(r"\.\.\.|\.\.|[=~<>]=|[-+*/%^#(){}\[\];:,.<>=]")
_LONG_OPEN = re.compile(r"\[(=*)(\[)?")
_REST_OF_LINE = re.compile(r"[^\r\n]*")
_STRING_RUN = {q: re.compile(rf"[^{q}\\\r\n]*") for q in "\"'"}
_DECIMAL_ESCAPE = re.compile(r"[0-9]{1,3}")
_SHEBANG_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_FLAG_NAME = re.compile(r"[a-z][a-z0-9-]*")


class LuaSyntaxError(ValueError):
    """Signal source that Lua 5.1 cannot lex; ``line`` is the 1-based line of the culprit."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


class Token(NamedTuple):
    """Hold one lexeme: ``text`` is the exact source slice, ``line`` the line it starts on."""

    kind: TokenKind
    text: str
    line: int


def _breaks(text: str) -> int:
    """Count line breaks the way Lua does (``\\r\\n`` and ``\\n\\r`` count once)."""
    return len(_BREAK.findall(text))


class _Lexer:
    """Split one source string into tokens; use once through :meth:`run`."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        if self.src.startswith("#!"):
            self._shebang()
        while self._skip_space():
            self._token()
        return self.tokens

    def _skip_space(self) -> bool:
        """Skip whitespace; return whether any source is left."""
        match = _SPACE.match(self.src, self.pos)
        assert match is not None  # the pattern also matches the empty string
        self.line += _breaks(match.group())
        self.pos = match.end()
        return self.pos < len(self.src)

    def _emit(self, kind: TokenKind, end: int) -> None:
        text = self.src[self.pos : end]
        self.tokens.append(Token(kind, text, self.line))
        self.line += _breaks(text)
        self.pos = end

    def _shebang(self) -> None:
        """Take the first line as Redis does: up to the first ``\\n``, minus a final ``\\r``."""
        end = self.src.find("\n")
        text = self.src if end < 0 else self.src[:end]
        text = text.removesuffix("\r")
        self.tokens.append(Token("shebang", text, 1))
        self.pos = len(text)  # Lua never sees this line, so it adds no line

    def _token(self) -> None:
        src, pos = self.src, self.pos
        if src.startswith("--", pos):
            self._comment()
        elif src[pos] == "[":
            self._bracket()
        elif src[pos] in "\"'":
            self._emit("string", self._string_end())
        elif match := _NUMBER.match(src, pos):
            self._emit("number", match.end())
        elif match := _NAME.match(src, pos):
            self._emit("keyword" if match.group() in KEYWORDS else "name", match.end())
        elif match := _OP.match(src, pos):
            self._emit("op", match.end())
        else:
            raise LuaSyntaxError(f"unexpected symbol {src[pos]!r}", self.line)

    def _comment(self) -> None:
        opening = _LONG_OPEN.match(self.src, self.pos + 2)
        if opening and opening.group(2):
            self._emit("comment", self._long_end(opening, "comment"))
        else:
            match = _REST_OF_LINE.match(self.src, self.pos)
            assert match is not None
            self._emit("comment", match.end())

    def _bracket(self) -> None:
        opening = _LONG_OPEN.match(self.src, self.pos)
        assert opening is not None  # called on "["
        if opening.group(2):
            self._emit("long_string", self._long_end(opening, "string"))
        elif opening.group(1):
            raise LuaSyntaxError("invalid long string delimiter", self.line)
        else:
            self._emit("op", self.pos + 1)

    def _long_end(self, opening: re.Match[str], what: str) -> int:
        """Return the end of the long bracket whose opening is ``opening``."""
        close = f"]{opening.group(1)}]"
        end = self.src.find(close, opening.end())
        if end < 0:
            raise LuaSyntaxError(f"unfinished long {what}", self.line)
        return end + len(close)

    def _string_end(self) -> int:
        """Return the end of the short string starting at ``pos``."""
        src, quote = self.src, self.src[self.pos]
        run = _STRING_RUN[quote]
        i = self.pos + 1
        while True:
            match = run.match(src, i)
            assert match is not None
            i = match.end()
            if i == len(src) or src[i] in "\r\n":
                raise LuaSyntaxError("unfinished string", self.line)
            if src[i] == quote:
                return i + 1
            i = self._escape_end(i + 1)

    def _escape_end(self, i: int) -> int:
        """Return the end of the escape whose backslash ends right before ``i``."""
        if i == len(self.src):
            raise LuaSyntaxError("unfinished string", self.line)
        if newline := _BREAK.match(self.src, i):
            return newline.end()
        if digits := _DECIMAL_ESCAPE.match(self.src, i):
            if int(digits.group()) > 255:
                raise LuaSyntaxError("escape sequence too large", self.line)
            return digits.end()
        return i + 1  # \n, \", \\ and any other character stand for one character


def tokenize(source: str) -> list[Token]:
    """Split Lua 5.1 ``source`` into tokens, comments included, whitespace dropped.

    A first line starting with ``#!`` becomes one ``shebang`` token (Redis 7+ reads it;
    Lua never sees it). Token boundaries match Lua 5.1's lexer, so ``1..2`` is one
    (malformed) number, exactly as the server lexes it. Raise :class:`LuaSyntaxError`
    for an unfinished string, long string or long comment, a bad long bracket, a
    decimal escape above 255 or a character that starts no token.
    """
    return _Lexer(source).run()


def _joinable(left: Token, right: Token) -> bool:
    """Return whether ``left`` and ``right`` written with nothing between re-lex unchanged."""
    try:
        pair = tokenize(left.text + right.text)
    except LuaSyntaxError:
        return False
    return [(t.kind, t.text) for t in pair] == [(left.kind, left.text), (right.kind, right.text)]


def _gap(prev: Token | None, token: Token, line: int, keep_lines: bool) -> str:
    """Return the whitespace to write before ``token``; ``line`` is the output's line so far."""
    if keep_lines and token.line > line:
        return "\n" * (token.line - line)
    if prev is None:
        return ""
    if token.text == "(" and token.line > prev.line + _breaks(prev.text):
        return "\n"  # Lua 5.1 rejects a call whose "(" starts a new line; keep that verdict
    return "" if _joinable(prev, token) else " "


def minify(source: str, *, keep_lines: bool = False) -> str:
    """Return ``source`` without comments and redundant whitespace, meaning unchanged.

    Strings and long strings are copied byte for byte and the token sequence is kept
    exactly: two tokens are written with nothing between them only when their
    concatenation lexes back into the same two tokens, else with one space. A shebang
    line is kept exactly and followed by a newline. With ``keep_lines`` every token
    stays on its source line and the line count is kept, so server error line numbers
    still point at the source; otherwise the body takes one line, except inside
    multi-line strings and before a ``(`` that started a line (Lua 5.1 reports an
    ambiguous call there; kept so).
    The result is deterministic and ``minify(minify(s)) == minify(s)``. Raise
    :class:`LuaSyntaxError` as :func:`tokenize` does.
    """
    tokens = [token for token in tokenize(source) if token.kind != "comment"]
    parts: list[str] = []
    line = 1
    if tokens and tokens[0].kind == "shebang":
        parts, line = [tokens.pop(0).text, "\n"], 2
    prev: Token | None = None
    for token in tokens:
        gap = _gap(prev, token, line, keep_lines)
        parts += (gap, token.text)
        line += gap.count("\n") + _breaks(token.text)
        prev = token
    if keep_lines:  # trailing blank and comment lines too: errors "near <eof>" keep their line
        parts.append("\n" * (1 + _breaks(strip_shebang(source)) - line))
    return "".join(parts)


def strip_shebang(source: str) -> str:
    """Empty a first line starting with ``#!``, keeping its newline and so all line numbers.

    Redis 7+ drops that line the same way before compiling; Redis 6.2 would reject it.
    Return ``source`` unchanged when it has no shebang.
    """
    if not source.startswith("#!"):
        return source
    end = source.find("\n")
    return "" if end < 0 else source[end:]


def parse_shebang(source: str) -> tuple[str, frozenset[str]] | None:
    """Return ``(engine, flags)`` from a ``#!lua flags=a,b`` first line, or None without one.

    Flag names are checked for shape, not against the server's list (the server does
    that when loading). Raise ValueError for another engine, an option other than
    ``flags=``, or an empty or malformed flag name. Redis also requires a newline after
    the shebang; :func:`minify` always writes one.
    """
    if not source.startswith("#!"):
        return None
    engine, *options = _SHEBANG_SPACE.split(source.split("\n", 1)[0].rstrip(" \t\r\f\v"))
    if engine != "#!lua":
        raise ValueError(f"unexpected engine in script shebang: {engine!r}")
    flags: set[str] = set()
    for option in options:
        if not option.startswith("flags="):
            raise ValueError(f"unknown lua shebang option: {option!r}")
        names = option.removeprefix("flags=")
        for name in names.split(",") if names else ():
            if not _FLAG_NAME.fullmatch(name):
                raise ValueError(f"malformed flag in script shebang: {name!r}")
            flags.add(name)
    return "lua", frozenset(flags)
