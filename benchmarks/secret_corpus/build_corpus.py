"""Build a labelled corpus of credential examples from the gitleaks and Kingfisher rule sets.

The two scanners ship test examples next to every detection rule: strings that must be
found (true positives) and look-alikes that must not (false positives / negative
examples). This script collects those example strings, as data, into one JSONL file for
the redaction benchmark. No scanner code is copied or run: the example strings are read
out of each repository with ``git show`` and written out unchanged, with the licence
notices kept in ``LICENSES.md`` next to the output.

gitleaks (MIT), ``cmd/generate/config/rules/*.go``
    Each rule function builds ``r := config.Rule{RuleID: ..., Description: ...}`` and
    lists of true positives (``tps``) and false positives (``fps``) that it hands to
    ``utils.Validate`` / ``utils.ValidateWithPaths``. Those lists are Go expressions, so a
    small evaluator for the subset of Go they use is included below: string literals
    (interpreted and raw) joined with ``+``, ``[]string{...}`` and ``map`` literals,
    ``append``, local and package-level variables, ``fmt.Sprintf`` with ``%s``/``%d``/``%v``,
    ``for ... range`` over a literal, and calls into the ``utils`` package, whose bodies are
    read from ``cmd/generate/config/utils/*.go`` and interpreted the same way (so the
    framings of ``GenerateSampleSecret(s)`` come from the source, not from this file).
    ``secrets.NewSecret(re)`` returns a random string matching ``re``; here it is
    reproduced with ``rstr`` from a ``random.Random`` seeded with the rule function's file
    and name, so each run gives the same corpus. The rules package's ``newPlausibleSecret``
    helper (a retry loop) is emulated: ``NewSecret`` redrawn until the value has a digit
    1-9 and no entry of ``DefaultStopWords``. Anything else the evaluator cannot reduce to
    a string (``if``/plain ``for`` statements, unknown calls) is skipped and counted.
    The secret of an example built by ``GenerateSampleSecret(s)(id, secret)`` is its
    ``secret`` argument; for any other true positive it is found by applying the rule's
    compiled regex from ``config/gitleaks.toml`` the way gitleaks does (capture group
    ``secretGroup`` if set, else the first non-empty group, else the whole match; the
    pattern is compiled with the ``regex`` module, whose V1 mode scopes inline flags as
    Go does).

Kingfisher (Apache-2.0), ``data/rules/*.yml``
    Each entry of ``rules:`` has ``id``, ``name``, ``pattern`` (Rust regex syntax, usually
    ``(?x)`` verbose), ``examples`` and optionally ``negative_examples``. The secret of an
    example is the first participating named group of the pattern, else the first
    participating numbered group, else the whole match. As Kingfisher does, ``(?#...)``
    and trailing `` # ...`` comments are removed first and the pattern is matched with
    ASCII (non-Unicode) classes. Rust verbose mode also ignores whitespace and ``#``
    comments inside character classes, so verbose patterns are compacted the Rust way
    before being compiled with the ``regex`` module.

Each record: ``source`` ("gitleaks" | "kingfisher"), ``source_commit``, ``source_path``,
``rule_id``, ``rule_name``, ``label`` ("secret" for true positives, "identifier" for the examples of Kingfisher's hidden
rules (an app id or a host that pairs with a secret), "benign" for false
positives / negative examples), ``example`` (the example string), ``secret`` (the
credential inside a true positive, or null where it cannot be located; always null for
benign records). Identical (rule_id, label, example) records are kept once. Dropped and
counted: gitleaks rule functions whose rule is not in ``config/gitleaks.toml`` (written but
not shipped), empty examples (the file content of path-only rules), and a benign record
whose example is also a true positive of the same rule (gitleaks rules whose verdict
depends on the file path, which the record does not carry). Counts go to stderr.

Usage::

    python benchmarks/secret_corpus/build_corpus.py \\
        --gitleaks /path/to/gitleaks --kingfisher /path/to/kingfisher \\
        --out benchmarks/secret_corpus/examples.jsonl

Both repository paths may be bare git directories; only ``HEAD`` is read. Needs
``regex``, ``rstr`` and ``pyyaml``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex
import rstr
import yaml
from rstr.xeger import STAR_PLUS_LIMIT

GITLEAKS_RULES_DIR = "cmd/generate/config/rules"
GITLEAKS_UTILS_DIR = "cmd/generate/config/utils"
GITLEAKS_CONFIG = "config/gitleaks.toml"
KINGFISHER_RULES_DIR = "data/rules"
MATCH_TIMEOUT_S = 2.0
PLAUSIBLE_SECRET_TRIES = 1000


# --------------------------------------------------------------------------- git access


def git_show(repo: Path, path: str) -> str:
    """Return the text of ``path`` at ``HEAD`` of ``repo``."""
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def git_ls(repo: Path, directory: str) -> list[str]:
    """Return the paths of the files under ``directory`` at ``HEAD``, sorted."""
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "HEAD", "--", directory],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(out.split())


def git_head(repo: Path) -> str:
    """Return the commit sha of ``HEAD``."""
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


# --------------------------------------------------------------------------- Go tokens

_GO_TOKEN = re.compile(
    r"(?P<space>[ \t\r]+)|(?P<newline>\n)|(?P<linecomment>//[^\n]*)"
    r"|(?P<blockcomment>/\*.*?\*/)|(?P<raw>`[^`]*`)|(?P<str>\"(?:[^\"\\\n]|\\.)*\")"
    r"|(?P<char>'(?:[^'\\\n]|\\.)+')|(?P<num>\d[\w.]*)|(?P<ident>[A-Za-z_]\w*)"
    r"|(?P<op>\.\.\.|:=|\+=|-=|==|!=|<=|>=|&&|\|\||\+\+|--|[-+*/%&|^<>=!(){}\[\],;:.])",
    re.S,
)
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"',
}  # fmt: skip
_GO_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u(\w{4})|U(\w{8}))")


class GoSyntaxError(Exception):
    """Raised on Go source outside the subset this module parses."""


@dataclass(frozen=True)
class Token:
    kind: str  # ident | str | int | op
    value: Any


def unquote_go(literal: str) -> str:
    """Decode a Go interpreted string or rune literal body (escapes included)."""
    out = bytearray()
    pos = 0
    for m in _GO_ESCAPE.finditer(literal):
        out += literal[pos : m.start()].encode()
        simple, hex2, octal, u4, u8 = m.groups()
        if simple:
            out += _SIMPLE_ESCAPES[simple].encode()
        elif hex2 or octal:
            out.append(int(hex2, 16) if hex2 else int(octal, 8))
        else:
            out += chr(int(u4 or u8, 16)).encode()
        pos = m.end()
    out += literal[pos:].encode()
    return out.decode("utf-8", errors="replace")


def parse_go_number(text: str) -> int | float:
    """The value of a Go integer or floating-point literal."""
    try:
        return int(text, 0)
    except ValueError:
        try:
            return float(text)
        except ValueError as exc:
            raise GoSyntaxError(f"number {text!r}") from exc


def tokenize_go(src: str) -> list[Token]:
    """Tokenize Go source, inserting semicolons the way the Go spec does."""
    tokens: list[Token] = []

    def ends_statement() -> bool:
        if not tokens:
            return False
        last = tokens[-1]
        if last.kind in ("ident", "str", "int"):
            return True
        return last.value in (")", "]", "}", "++", "--")

    pos = 0
    while pos < len(src):
        m = _GO_TOKEN.match(src, pos)
        if m is None:
            raise GoSyntaxError(f"unexpected character {src[pos]!r}")
        pos = m.end()
        kind, text = m.lastgroup, m.group()
        if kind == "newline" or (kind == "blockcomment" and "\n" in text):
            if ends_statement():
                tokens.append(Token("op", ";"))
        elif kind == "raw":
            tokens.append(Token("str", text[1:-1].replace("\r", "")))
        elif kind == "str":
            tokens.append(Token("str", unquote_go(text[1:-1])))
        elif kind == "char":
            tokens.append(Token("int", ord(unquote_go(text[1:-1]))))
        elif kind == "num":
            tokens.append(Token("int", parse_go_number(text)))
        elif kind in ("ident", "op"):
            tokens.append(Token(kind, text))
    if ends_statement():
        tokens.append(Token("op", ";"))
    tokens.append(Token("op", "EOF"))
    return tokens


# --------------------------------------------------------------------------- Go parser
# Expressions become tuples: ("lit", v), ("name", n), ("sel", x, n), ("call", fn, args,
# spread), ("comp", type, [(key, value)]), ("binop", op, l, r), ("unary", op, x),
# ("index", x, i), ("conv", type, x), ("type", t). Statements: ("assign", op, lhs, rhs),
# ("define", [(names, type, values)]), ("return", values), ("range", names, op, x, body),
# ("expr", exprs), ("unsupported", keyword, assigned names, contains a return).
# Types: ("slice", elem), ("map", key, value), ("ptr", t), ("named", name).

_BINARY_PRECEDENCE = {
    "||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
    "+": 4, "-": 4, "|": 4, "^": 4, "*": 5, "/": 5, "%": 5, "&": 5,
}  # fmt: skip
_UNSUPPORTED_STATEMENTS = (
    "if", "for", "switch", "select", "go", "defer", "goto", "break", "continue", "fallthrough",
)  # fmt: skip


@dataclass
class FuncDecl:
    name: str
    params: list[str]
    results: str
    body: list[tuple] | None
    imports: dict[str, str]
    path: str
    error: str = ""


@dataclass
class GoFile:
    imports: dict[str, str] = field(default_factory=dict)
    funcs: list[FuncDecl] = field(default_factory=list)
    vars: dict[str, tuple] = field(default_factory=dict)


class GoParser:
    """Recursive-descent parser for the Go subset used by the gitleaks rule generators."""

    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.no_brace = False  # inside a for/range header, `x {` opens the body

    # token helpers
    def peek(self) -> Token:
        return self.toks[min(self.i, len(self.toks) - 1)]

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok.kind in ("op", "ident") and tok.value == value

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        if not self.at(value):
            raise GoSyntaxError(f"expected {value!r}, found {self.peek().value!r}")
        self.i += 1

    def ident(self) -> str:
        tok = self.take()
        if tok.kind != "ident":
            raise GoSyntaxError(f"expected an identifier, found {tok.value!r}")
        return tok.value

    def skip_balanced(self, stop: tuple[str, ...]) -> list[Token]:
        """Consume tokens up to (not including) a ``stop`` op at bracket depth 0."""
        depth, start = 0, self.i
        while True:
            tok = self.peek()
            if tok.value == "EOF" and tok.kind == "op":
                raise GoSyntaxError("unbalanced brackets")
            if tok.kind == "op":
                if depth == 0 and tok.value in stop:
                    return self.toks[start : self.i]
                if tok.value in "([{":
                    depth += 1
                elif tok.value in ")]}":
                    depth -= 1
            self.i += 1

    # file level
    def parse_file(self, path: str) -> GoFile:
        gofile = GoFile()
        self.expect("package")
        self.ident()
        while not self.at("EOF"):
            if self.at(";"):
                self.take()
            elif self.at("import"):
                self.take()
                self.parse_group(lambda: self.parse_import(gofile.imports))
            elif self.at("var") or self.at("const"):
                self.take()
                self.parse_group(lambda: self.parse_value_spec(gofile.vars))
            elif self.at("type"):
                self.skip_balanced((";",))
            elif self.at("func"):
                gofile.funcs.append(self.parse_func(gofile.imports, path))
            else:
                raise GoSyntaxError(f"unexpected top-level token {self.peek().value!r}")
        return gofile

    def parse_group(self, spec: Callable[[], None]) -> None:
        if self.at("("):
            self.take()
            while not self.at(")"):
                if self.at(";"):
                    self.take()
                else:
                    spec()
            self.take()
        else:
            spec()

    def parse_import(self, imports: dict[str, str]) -> None:
        alias = self.ident() if self.peek().kind == "ident" else None
        path = self.take().value
        imports[alias or path.rsplit("/", 1)[-1]] = path.rsplit("/", 1)[-1]

    def parse_value_spec(self, into: dict[str, tuple]) -> None:
        names, gotype, values = self.parse_var_spec()
        for name, value in zip(names, values, strict=True):
            if value is not None:  # an uninitialised package variable stays unknown
                into[name] = value

    def parse_var_spec(self) -> tuple[list[str], tuple | None, list[tuple | None]]:
        names = [self.ident()]
        while self.at(","):
            self.take()
            names.append(self.ident())
        gotype = None if self.at("=") or self.at(";") else self.parse_type()
        values: list[tuple | None] = [None] * len(names)
        if self.at("="):
            self.take()
            values = self.parse_expr_list()
        return names, gotype, values

    def parse_func(self, imports: dict[str, str], path: str) -> FuncDecl:
        self.expect("func")
        if self.at("("):  # method receiver: not needed, parsed and dropped
            self.take()
            self.skip_balanced((")",))
            self.take()
        name = self.ident()
        self.expect("(")
        params = self.parse_params()
        results = " ".join(str(t.value) for t in self.skip_balanced(("{",)))
        start = self.i
        try:
            body = self.parse_block()
            error = ""
        except GoSyntaxError as exc:
            self.i = start
            self.take()
            self.skip_balanced(("}",))
            self.take()
            body, error = None, f"unparsed body of {name}: {exc}"
        return FuncDecl(name, params, results, body, imports, path, error)

    def parse_params(self) -> list[str]:
        groups: list[list[Token]] = []
        while not self.at(")"):
            groups.append(self.skip_balanced((",", ")")))
            if self.at(","):
                self.take()
        self.take()
        if any(len(g) > 1 for g in groups):
            return [str(g[0].value) for g in groups]
        return []  # unnamed parameters only

    # statements
    def parse_block(self) -> list[tuple]:
        self.expect("{")
        stmts = []
        while not self.at("}"):
            if self.at(";"):
                self.take()
                continue
            stmts.append(self.parse_statement())
            if not self.at("}"):
                self.expect(";")
        self.take()
        return stmts

    def parse_statement(self) -> tuple:
        if self.at("var") or self.at("const"):
            self.take()
            specs: list[tuple] = []
            self.parse_group(lambda: specs.append(self.parse_var_spec()))
            return ("define", specs)
        if self.at("return"):
            self.take()
            values = [] if self.at(";") or self.at("}") else self.parse_expr_list()
            return ("return", values)
        if self.at("for") and self.is_range_loop():
            return self.parse_range_loop()
        if self.at("{") or any(self.at(k) for k in _UNSUPPORTED_STATEMENTS):
            keyword = str(self.peek().value)
            skipped = self.skip_balanced((";", "}"))
            assigned = sorted(
                {
                    str(skipped[j].value)
                    for j in range(len(skipped) - 1)
                    if skipped[j].kind == "ident" and skipped[j + 1].value in (":=", "=", "+=")
                }
            )
            has_return = any(t.kind == "ident" and t.value == "return" for t in skipped)
            return ("unsupported", keyword, assigned, has_return)
        lhs = self.parse_expr_list()
        tok = self.peek()
        if tok.kind == "op" and tok.value in (":=", "="):
            self.take()
            return ("assign", tok.value, lhs, self.parse_expr_list())
        if tok.kind == "op" and tok.value in ("+=", "-=", "++", "--"):
            self.skip_balanced((";", "}"))
            names = [n[1] for n in lhs if n[0] == "name"]
            return ("unsupported", tok.value, names, False)
        return ("expr", lhs)

    def is_range_loop(self) -> bool:
        for tok in self.toks[self.i + 1 :]:
            if tok.kind == "op" and tok.value in ("{", ";", "EOF"):
                return False
            if tok.kind == "ident" and tok.value == "range":
                return True
        return False

    def parse_range_loop(self) -> tuple:
        self.expect("for")
        names: list[str] = []
        op = None
        if not self.at("range"):
            names.append(self.ident())
            if self.at(","):
                self.take()
                names.append(self.ident())
            op = self.take().value
        self.expect("range")
        self.no_brace = True
        iterable = self.parse_expr()
        self.no_brace = False
        return ("range", names, op, iterable, self.parse_block())

    # expressions
    def parse_expr_list(self) -> list[tuple]:
        exprs = [self.parse_expr()]
        while self.at(","):
            self.take()
            exprs.append(self.parse_expr())
        return exprs

    def parse_expr(self, min_prec: int = 1) -> tuple:
        left = self.parse_unary()
        while True:
            tok = self.peek()
            prec = _BINARY_PRECEDENCE.get(tok.value) if tok.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.take()
            left = ("binop", tok.value, left, self.parse_expr(prec + 1))

    def parse_unary(self) -> tuple:
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("-", "+", "!", "^", "*", "&"):
            self.take()
            return ("unary", tok.value, self.parse_unary())
        return self.parse_postfix(self.parse_operand())

    def nested(self, parse: Callable[[], Any]) -> Any:
        """Parse inside brackets, where a composite literal is allowed again."""
        saved, self.no_brace = self.no_brace, False
        try:
            return parse()
        finally:
            self.no_brace = saved

    def parse_operand(self) -> tuple:
        tok = self.peek()
        if tok.kind in ("str", "int"):
            self.take()
            return ("lit", tok.value)
        if tok.kind == "ident" and tok.value not in ("map", "struct", "interface"):
            self.take()
            return ("name", tok.value)
        if tok.value == "(":
            self.take()
            inner = self.nested(self.parse_expr)
            self.expect(")")
            return inner
        gotype = self.parse_type()
        if self.at("("):
            self.take()
            inner = self.nested(self.parse_expr)
            self.expect(")")
            return ("conv", gotype, inner)
        if not self.at("{"):
            return ("type", gotype)  # e.g. the first argument of make()
        return self.parse_composite(gotype)

    def parse_postfix(self, node: tuple) -> tuple:
        while True:
            if self.at("."):
                self.take()
                node = ("sel", node, self.ident())
            elif self.at("("):
                self.take()
                args, spread = self.nested(self.parse_call_args)
                node = ("call", node, args, spread)
            elif self.at("["):
                self.take()
                index = self.nested(self.parse_expr)
                self.expect("]")
                node = ("index", node, index)
            elif self.at("{") and not self.no_brace and self.is_type_name(node):
                node = self.parse_composite(("named", self.type_name(node)))
            else:
                return node

    @staticmethod
    def is_type_name(node: tuple) -> bool:
        return node[0] == "name" or (node[0] == "sel" and node[1][0] == "name")

    @staticmethod
    def type_name(node: tuple) -> str:
        return node[1] if node[0] == "name" else f"{node[1][1]}.{node[2]}"

    def parse_call_args(self) -> tuple[list[tuple], bool]:
        args: list[tuple] = []
        spread = False
        while not self.at(")"):
            args.append(self.parse_expr())
            if self.at("..."):
                self.take()
                spread = True
            if self.at(","):
                self.take()
        self.take()
        return args, spread

    def parse_type(self) -> tuple:
        if self.at("["):
            self.take()
            self.skip_balanced(("]",))
            self.take()
            return ("slice", self.parse_type())
        if self.at("map"):
            self.take()
            self.expect("[")
            key = self.parse_type()
            self.expect("]")
            return ("map", key, self.parse_type())
        if self.at("*"):
            self.take()
            return ("ptr", self.parse_type())
        if self.at("struct") or self.at("interface"):
            name = self.ident()
            self.expect("{")
            self.skip_balanced(("}",))
            self.take()
            return ("named", name)
        name = self.ident()
        if self.at("."):
            self.take()
            name = f"{name}.{self.ident()}"
        return ("named", name)

    def parse_composite(self, gotype: tuple | None) -> tuple:
        self.expect("{")
        saved, self.no_brace = self.no_brace, False
        elems: list[tuple[tuple | None, tuple]] = []
        while not self.at("}"):
            value = self.parse_element()
            key = None
            if self.at(":"):
                self.take()
                key, value = value, self.parse_element()
            elems.append((key, value))
            if not self.at("}"):
                self.expect(",")
        self.take()
        self.no_brace = saved
        return ("comp", gotype, elems)

    def parse_element(self) -> tuple:
        return self.parse_composite(None) if self.at("{") else self.parse_expr()


# --------------------------------------------------------------------------- evaluation


class Unevaluable(Exception):
    """Raised when an expression cannot be reduced to a value statically."""


class Sample(str):
    """An example string that knows the secret it was built around."""

    secret: str

    def __new__(cls, text: str, secret: str) -> Sample:
        obj = super().__new__(cls, text)
        obj.secret = secret
        return obj


@dataclass(frozen=True)
class Skipped:
    """Stands in for a value (or list element) that could not be evaluated."""

    reason: str


@dataclass
class Replacer:
    pairs: list[tuple[str, str]]

    def replace(self, text: str) -> str:
        """Single left-to-right pass, trying the pairs in order (Go's strings.Replacer)."""
        out, pos = [], 0
        while pos < len(text):
            for old, new in self.pairs:
                if old and text.startswith(old, pos):
                    out.append(new)
                    pos += len(old)
                    break
            else:
                out.append(text[pos])
                pos += 1
        return "".join(out)


@dataclass
class Validation:
    rule: Any
    tps: Any
    fps: Any


class Env:
    """A Go block scope."""

    def __init__(self, parent: Env | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def find(self, name: str) -> Env | None:
        env: Env | None = self
        while env is not None and name not in env.vars:
            env = env.parent
        return env

    def assign(self, name: str, value: Any) -> None:
        (self.find(name) or self).vars[name] = value


@dataclass
class Struct:
    """A struct composite literal, whose fields are evaluated only when read."""

    fields: dict[str, tuple]
    frame: Frame
    interp: GoInterpreter

    def get(self, name: str) -> Any:
        if name not in self.fields:
            raise Unevaluable(f"struct field {name} is not set")
        return self.interp.eval(self.fields[name], self.frame)


@dataclass
class Package:
    name: str
    funcs: dict[str, FuncDecl] = field(default_factory=dict)
    var_nodes: dict[str, tuple[tuple, dict[str, str], str]] = field(default_factory=dict)
    var_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Frame:
    pkg: Package
    imports: dict[str, str]
    xeger: rstr.Xeger
    env: Env
    in_loop: bool = False


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def go_regex_for_python(pattern: str) -> str:
    r"""Rewrite the Go/Rust-only escape ``\z`` (end of text) as Python's ``\Z``."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern)


def go_sprintf(fmt: str, args: list[Any]) -> str:
    """fmt.Sprintf for the verbs %s, %v, %d and %% without flags or width."""
    out, pos, used = [], 0, 0
    for m in re.finditer(r"%([^a-zA-Z%]*)([a-zA-Z%])", fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, verb = m.groups()
        if verb == "%" and not flags:
            out.append("%")
            continue
        if flags or verb not in "svd":
            raise Unevaluable(f"fmt.Sprintf verb %{flags}{verb}")
        value = args[used] if used < len(args) else None
        allowed = {"s": str, "v": (str, int), "d": int}[verb]
        if not isinstance(value, allowed) or isinstance(value, bool):
            raise Unevaluable("fmt.Sprintf argument count or type")
        out.append(str(value))
        used += 1
    if used != len(args):
        raise Unevaluable("fmt.Sprintf has extra arguments")
    return "".join(out) + fmt[pos:]


_BASE64_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "StdEncoding": base64.standard_b64encode,
    "URLEncoding": base64.urlsafe_b64encode,
    "RawStdEncoding": lambda b: base64.standard_b64encode(b).rstrip(b"="),
    "RawURLEncoding": lambda b: base64.urlsafe_b64encode(b).rstrip(b"="),
}


class BoundedXeger(rstr.Xeger):
    """rstr's Xeger, except that a repeat whose minimum exceeds rstr's cap on open-ended
    repeats (``{108}``, ``{250,}``) is drawn from [min, max(min, cap)] instead of failing."""

    def _handle_repeat(self, start_range: int, end_range: int, value: Any) -> str:
        end_range = min(end_range, max(start_range, STAR_PLUS_LIMIT))
        times = self._random.randint(start_range, end_range)
        return "".join("".join(self._handle_state(s) for s in value) for _ in range(times))


class GoInterpreter:
    """Evaluates the gitleaks rule functions far enough to recover their example lists."""

    def __init__(self, packages: dict[str, Package], seed_prefix: str) -> None:
        self.packages = packages
        self.seed_prefix = seed_prefix
        self._evaluating: set[str] = set()

    def new_xeger(self, seed: str) -> rstr.Xeger:
        return BoundedXeger(random.Random(f"{self.seed_prefix}:{seed}"))

    def run_rule(self, fn: FuncDecl, pkg: Package) -> tuple[Any, list[str]]:
        """Run one rule function; return its result and the statements it skipped."""
        frame = Frame(pkg, fn.imports, self.new_xeger(f"{fn.path}:{fn.name}"), Env())
        if fn.body is None:
            raise Unevaluable(fn.error)
        skipped = [f"`{st[1]}` statement" for st in fn.body if st[0] == "unsupported"]
        try:
            self.exec_block(fn.body, frame)
        except _Return as ret:
            return ret.value, skipped
        raise Unevaluable(f"{fn.name} returned nothing")

    # statements
    def exec_block(self, stmts: list[tuple], frame: Frame) -> None:
        for st in stmts:
            self.exec_stmt(st, frame)

    def exec_stmt(self, st: tuple, frame: Frame) -> None:
        kind = st[0]
        if kind == "return":
            values = [self.eval(v, frame) for v in st[1]]
            raise _Return(values[0] if len(values) == 1 else values)
        if kind == "assign":
            _, op, lhs, rhs = st
            if len(lhs) != len(rhs):
                self.poison([n[1] for n in lhs if n[0] == "name"], "multi-value assignment", frame)
                return
            for target, node in zip(lhs, rhs, strict=True):
                if target[0] != "name" or target[1] == "_":
                    continue  # field and index assignments do not affect the examples
                value = self.try_eval(node, frame)
                if op == ":=":
                    frame.env.vars[target[1]] = value
                else:
                    frame.env.assign(target[1], value)
        elif kind == "define":
            for names, gotype, values in st[1]:
                for name, node in zip(names, values, strict=True):
                    value = zero_value(gotype) if node is None else self.try_eval(node, frame)
                    frame.env.vars[name] = value
        elif kind == "range":
            try:
                self.exec_range(st, frame)
            except Unevaluable as exc:
                self.poison(assigned_names(st[4]), f"for-range loop: {exc}", frame)
        elif kind == "unsupported":
            _, keyword, assigned, has_return = st
            if frame.in_loop or has_return:
                raise Unevaluable(f"`{keyword}` statement")
            self.poison(assigned, f"assigned in a `{keyword}` statement", frame)

    def exec_range(self, st: tuple, frame: Frame) -> None:
        _, names, op, iterable_node, body = st
        iterable = self.eval(iterable_node, frame)
        if isinstance(iterable, dict):
            items = list(iterable.items())
        elif isinstance(iterable, list):
            items = list(enumerate(iterable))
        else:
            raise Unevaluable("range over a non-literal")
        for pair in items:
            inner = Frame(frame.pkg, frame.imports, frame.xeger, Env(frame.env), in_loop=True)
            for name, value in zip(names, pair, strict=False):
                if name == "_":
                    continue
                if op == ":=":
                    inner.env.vars[name] = value
                else:
                    frame.env.assign(name, value)
            self.exec_block(body, inner)

    @staticmethod
    def poison(names: list[str], reason: str, frame: Frame) -> None:
        for name in names:
            frame.env.assign(name, Skipped(reason))

    # expressions
    def try_eval(self, node: tuple, frame: Frame) -> Any:
        try:
            return self.eval(node, frame)
        except Unevaluable as exc:
            return Skipped(str(exc))

    def eval(self, node: tuple, frame: Frame) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "name":
            return self.lookup(node[1], frame)
        if kind == "call":
            return self.call(node, frame)
        if kind == "comp":
            return self.composite(node[1], node[2], frame)
        if kind == "binop":
            left, right = self.eval(node[2], frame), self.eval(node[3], frame)
            if node[1] == "+" and isinstance(left, str) and isinstance(right, str):
                return str.__add__(left, right)  # a plain str: concatenation drops Sample
            raise Unevaluable(f"operator {node[1]}")
        if kind == "unary" and node[1] in ("&", "*"):  # pointers are transparent here
            return self.eval(node[2], frame)
        if kind == "conv" and node[1] in (("slice", ("named", "byte")), ("named", "string")):
            return self.eval(node[2], frame)
        raise Unevaluable(f"{kind} expression")

    def lookup(self, name: str, frame: Frame) -> Any:
        env = frame.env.find(name)
        if env is not None:
            value = env.vars[name]
        elif name in ("nil", "true", "false"):
            value = {"nil": None, "true": True, "false": False}[name]
        elif name in frame.pkg.var_nodes:
            value = self.package_var(frame.pkg, name)
        else:
            raise Unevaluable(f"unknown name {name}")
        if isinstance(value, Skipped):
            raise Unevaluable(value.reason)
        return value

    def package_var(self, pkg: Package, name: str) -> Any:
        if name not in pkg.var_values:
            key = f"{pkg.name}.{name}"
            if key in self._evaluating:
                raise Unevaluable(f"recursive package variable {key}")
            self._evaluating.add(key)
            node, imports, path = pkg.var_nodes[name]
            frame = Frame(pkg, imports, self.new_xeger(f"{path}:var:{name}"), Env())
            pkg.var_values[name] = self.try_eval(node, frame)
            self._evaluating.discard(key)
        return pkg.var_values[name]

    def composite(self, gotype: tuple | None, elems: list, frame: Frame) -> Any:
        if gotype is None:
            raise Unevaluable("composite literal of unknown type")
        while gotype[0] == "ptr":
            gotype = gotype[1]
        if gotype[0] == "slice":
            return [self.element(gotype[1], value, frame) for _, value in elems]
        if gotype[0] == "map":
            return {
                self.eval(key, frame): self.element(gotype[2], value, frame) for key, value in elems
            }
        return Struct({key[1]: value for key, value in elems if key}, frame, self)

    def element(self, gotype: tuple, node: tuple, frame: Frame) -> Any:
        try:
            if node[0] == "comp" and node[1] is None:
                return self.composite(gotype, node[2], frame)
            return self.eval(node, frame)
        except Unevaluable as exc:
            return Skipped(str(exc))

    def call(self, node: tuple, frame: Frame) -> Any:
        _, fn, argnodes, spread = node
        if fn[0] == "name" and frame.env.find(fn[1]) is None:
            return self.call_name(fn[1], argnodes, spread, frame)
        if fn[0] == "sel" and fn[1][0] == "name" and fn[1][1] in frame.imports:
            return self.call_qualified(frame.imports[fn[1][1]], fn[2], argnodes, frame)
        if (
            fn[0] == "sel"
            and fn[2] == "EncodeToString"
            and fn[1][0] == "sel"
            and fn[1][1][0] == "name"
            and frame.imports.get(fn[1][1][1]) == "base64"
            and fn[1][2] in _BASE64_ENCODERS
        ):
            (data,) = self.eval_args(argnodes, frame)
            return _BASE64_ENCODERS[fn[1][2]](str(data).encode()).decode()
        if fn[0] == "sel" and fn[2] == "Replace":
            replacer = self.eval(fn[1], frame)
            (text,) = self.eval_args(argnodes, frame)
            if isinstance(replacer, Replacer) and isinstance(text, str):
                return replacer.replace(text)
        raise Unevaluable(f"call to {describe(fn)}")

    def eval_args(self, argnodes: list[tuple], frame: Frame) -> list[Any]:
        return [self.eval(a, frame) for a in argnodes]

    def call_name(self, name: str, argnodes: list, spread: bool, frame: Frame) -> Any:
        if name == "append":
            base = self.eval(argnodes[0], frame)
            items = list(base or [])
            rest = [self.try_eval(a, frame) for a in argnodes[1:]]
            if spread and rest:
                last = rest.pop()
                items.extend(rest)
                items.extend(last if isinstance(last, list) else [last])
            else:
                items.extend(rest)
            return items
        if name == "make" and argnodes and argnodes[0][0] == "type":
            return zero_value(argnodes[0][1])
        if name == "newPlausibleSecret":
            (pattern,) = self.eval_args(argnodes, frame)
            return self.plausible_secret(pattern, frame)
        if name in frame.pkg.funcs:
            fn = frame.pkg.funcs[name]
            return self.call_func(frame.pkg, fn, self.eval_args(argnodes, frame), frame)
        raise Unevaluable(f"call to {name}")

    def call_qualified(self, pkgname: str, name: str, argnodes: list, frame: Frame) -> Any:
        if pkgname == "utils" and name in ("Validate", "ValidateWithPaths"):
            rule, tps, fps = (self.try_eval(a, frame) for a in argnodes)
            return Validation(rule, tps, fps)
        args = self.eval_args(argnodes, frame)
        if pkgname in self.packages and name in self.packages[pkgname].funcs:
            pkg = self.packages[pkgname]
            result = self.call_func(pkg, pkg.funcs[name], args, frame)
            if name in ("GenerateSampleSecret", "GenerateSampleSecrets"):
                secret = str(args[1])
                if isinstance(result, list):
                    return [Sample(text, secret) for text in result]
                return Sample(result, secret)
            return result
        if (pkgname, name) == ("secrets", "NewSecret"):
            return self.new_secret(args[0], frame)
        if (pkgname, name) == ("fmt", "Sprintf"):
            return go_sprintf(args[0], args[1:])
        if (pkgname, name) == ("strings", "ToUpper"):
            return str(args[0]).upper()
        if (pkgname, name) == ("strings", "NewReplacer"):
            return Replacer(list(zip(args[::2], args[1::2], strict=True)))
        raise Unevaluable(f"call to {pkgname}.{name}")

    def call_func(self, pkg: Package, fn: FuncDecl, args: list[Any], frame: Frame) -> Any:
        if fn.body is None:
            raise Unevaluable(fn.error)
        if len(args) != len(fn.params):
            raise Unevaluable(f"call to {fn.name} with {len(args)} arguments")
        inner = Frame(pkg, fn.imports, frame.xeger, Env())
        inner.env.vars.update(zip(fn.params, args, strict=True))
        try:
            self.exec_block(fn.body, inner)
        except _Return as ret:
            return ret.value
        raise Unevaluable(f"{fn.name} returned nothing")

    @staticmethod
    def new_secret(pattern: str, frame: Frame) -> str:
        try:
            return frame.xeger.xeger(go_regex_for_python(pattern))
        except (re.error, KeyError, ValueError, TypeError) as exc:
            raise Unevaluable(f"secrets.NewSecret({pattern!r}): {exc}") from exc

    def plausible_secret(self, pattern: str, frame: Frame) -> str:
        """newPlausibleSecret: NewSecret until it has a digit 1-9 and no stop word."""
        stopwords = self.package_var(frame.pkg, "DefaultStopWords")
        if not isinstance(stopwords, list):
            raise Unevaluable("DefaultStopWords")
        for _ in range(PLAUSIBLE_SECRET_TRIES):
            secret = self.new_secret(pattern, frame)
            lowered = secret.lower()
            if re.search("[1-9]", secret) and not any(w in lowered for w in stopwords):
                return secret
        raise Unevaluable("newPlausibleSecret found no value without a stop word")


def zero_value(gotype: tuple) -> Any:
    """The Go zero value of the types the rule files declare without initialiser."""
    if gotype[0] == "slice":
        return []
    if gotype[0] == "map":
        return {}
    return "" if gotype == ("named", "string") else None


def assigned_names(stmts: list[tuple]) -> list[str]:
    """Names assigned with ``=`` anywhere in ``stmts`` (outer variables a loop changes)."""
    names: list[str] = []
    for st in stmts:
        if st[0] == "assign" and st[1] != ":=":
            names += [t[1] for t in st[2] if t[0] == "name"]
        elif st[0] == "range":
            names += assigned_names(st[4])
    return names


def describe(node: tuple) -> str:
    """A short human-readable name for a callee expression."""
    if node[0] == "name":
        return node[1]
    if node[0] == "sel":
        return f"{describe(node[1])}.{node[2]}"
    return node[0]


# --------------------------------------------------------------------------- regexes


def compile_ascii_v1(pattern: str) -> regex.Pattern | None:
    """Compile with the ``regex`` module's V1 syntax (inline flags scoped to their group
    and nested character classes, as in Go and Rust) and ASCII classes; None on error."""
    try:
        return regex.compile(go_regex_for_python(pattern), regex.V1 | regex.ASCII)
    except regex.error:
        return None


def compact_rust_verbose(pattern: str) -> str:
    """Drop Rust ``(?x)`` whitespace and ``#`` comments (classes included) and the x flag."""
    out: list[str] = []
    verbose = False
    pos = 0
    flag_group = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\":
            out.append(pattern[pos : pos + 2])
            pos += 2
            continue
        m = flag_group.match(pattern, pos)
        if m and (m.group(1) or m.group(2) is not None):
            on, off, end = m.group(1), m.group(2) or "", m.group(3)
            if "x" in on:
                verbose = True
            if "x" in off:
                verbose = False
            on, off = on.replace("x", ""), off.replace("x", "")
            flags = on + (f"-{off}" if off else "")
            if flags or end == ":":
                out.append(f"(?{flags}{end}")
            pos = m.end()
            continue
        if verbose and char.isspace():
            pos += 1
        elif verbose and char == "#":
            newline = pattern.find("\n", pos)
            pos = len(pattern) if newline < 0 else newline + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out)


# Kingfisher removes vectorscan-style comments before it compiles a pattern (rules.rs).
_KINGFISHER_COMMENT = re.compile(r"(?m)\(\?#[^)]*\)|\s#[\sa-zA-Z]*$")


def compile_kingfisher_regex(pattern: str) -> regex.Pattern | None:
    """Compile a Kingfisher pattern as Kingfisher does: comments removed, then a bytes
    (non-Unicode, so ASCII-class) Rust regex."""
    return compile_ascii_v1(compact_rust_verbose(_KINGFISHER_COMMENT.sub("", pattern)))


def search(compiled: regex.Pattern, text: str) -> regex.Match | None:
    """First match of ``compiled`` in ``text`` (None on no match or timeout)."""
    try:
        return compiled.search(text, timeout=MATCH_TIMEOUT_S)
    except TimeoutError:
        return None


def gitleaks_secret(compiled: regex.Pattern, secret_group: int, text: str) -> str | None:
    """The secret gitleaks reports for ``text``: secretGroup, first non-empty group, match."""
    m = search(compiled, text)
    if m is None:
        return None
    if secret_group:
        return m.group(secret_group) or None
    return next((g for g in m.groups() if g), m.group(0)) or None


def kingfisher_secret(compiled: regex.Pattern, text: str) -> str | None:
    """First participating named group, else numbered group, else the whole match."""
    m = search(compiled, text)
    if m is None:
        return None
    for _, index in sorted(compiled.groupindex.items(), key=lambda kv: kv[1]):
        if m.group(index) is not None:
            return m.group(index) or None
    return next((g for g in m.groups() if g is not None), m.group(0)) or None


# --------------------------------------------------------------------------- extraction


@dataclass
class Stats:
    """What the run skipped, why secrets stayed null, and every rule id seen."""

    skipped: Counter = field(default_factory=Counter)
    null_reasons: Counter = field(default_factory=Counter)
    rule_ids: dict[str, set[str]] = field(
        default_factory=lambda: {"gitleaks": set(), "kingfisher": set()}
    )
    notes: list[str] = field(default_factory=list)


def record(
    source: str,
    commit: str,
    path: str,
    rule_id: str,
    rule_name: str,
    label: str,
    example: str,
    secret: str | None,
) -> dict[str, Any]:
    """One corpus record, fields in the documented order."""
    return {
        "source": source,
        "source_commit": commit,
        "source_path": path,
        "rule_id": rule_id,
        "rule_name": rule_name,
        "label": label,
        "example": str(example),
        "secret": secret,
    }


def load_go_package(repo: Path, directory: str, name: str, stats: Stats) -> Package:
    """Parse every non-test .go file of one package directory."""
    pkg = Package(name)
    for path in git_ls(repo, directory):
        if not path.endswith(".go") or path.endswith("_test.go"):
            continue
        try:
            gofile = GoParser(tokenize_go(git_show(repo, path))).parse_file(path)
        except GoSyntaxError as exc:
            stats.skipped["gitleaks: unparsable Go file"] += 1
            stats.notes.append(f"{path}: not parsed: {exc}")
            continue
        for fn in gofile.funcs:
            pkg.funcs[fn.name] = fn
        for var, node in gofile.vars.items():
            pkg.var_nodes[var] = (node, gofile.imports, path)
    return pkg


def example_items(value: Any, what: str, stats: Stats, rule_id: str) -> Iterator[str]:
    """The strings of a tps/fps value (a list, or a path -> content map), counting skips."""
    if value is None:
        return
    if isinstance(value, Skipped):
        stats.skipped[f"gitleaks: whole {what} list ({value.reason})"] += 1
        stats.notes.append(f"{rule_id}: whole {what} list skipped: {value.reason}")
        return
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        if isinstance(item, str):
            yield item
        else:
            reason = item.reason if isinstance(item, Skipped) else type(item).__name__
            stats.skipped[f"gitleaks: {what} element ({reason})"] += 1
            stats.notes.append(f"{rule_id}: {what} element skipped: {reason}")


def gitleaks_records(repo: Path, stats: Stats) -> list[dict[str, Any]]:
    """Records from the gitleaks rule generators."""
    commit = git_head(repo)
    config = tomllib.loads(git_show(repo, GITLEAKS_CONFIG))
    compiled = {}
    stats.rule_ids["gitleaks"].update(rule["id"] for rule in config.get("rules", []))
    for rule in config.get("rules", []):
        pattern = compile_ascii_v1(rule["regex"]) if "regex" in rule else None
        compiled[rule["id"]] = (pattern, int(rule.get("secretGroup", 0)), "regex" in rule)
    packages = {
        "rules": load_go_package(repo, GITLEAKS_RULES_DIR, "rules", stats),
        "utils": load_go_package(repo, GITLEAKS_UTILS_DIR, "utils", stats),
    }
    interp = GoInterpreter(packages, "gitleaks")
    records = []
    rules_pkg = packages["rules"]
    for fn in rules_pkg.funcs.values():
        if not fn.name[0].isupper() or fn.results != "* config . Rule":
            continue
        try:
            result, skipped_statements = interp.run_rule(fn, rules_pkg)
            if not isinstance(result, Validation):
                raise Unevaluable("returns no validated examples")
            if not isinstance(result.rule, Struct):
                raise Unevaluable("the validated rule is not a config.Rule literal")
            rule_id = str(result.rule.get("RuleID"))
            rule_name = str(result.rule.get("Description"))
            if rule_id not in compiled:
                raise Unevaluable(f"{rule_id} is not in {GITLEAKS_CONFIG} (not a shipped rule)")
        except Unevaluable as exc:
            stats.skipped[f"gitleaks: rule function ({exc})"] += 1
            stats.notes.append(f"{fn.path}:{fn.name}: rule skipped: {exc}")
            continue
        for statement in skipped_statements:
            stats.skipped[f"gitleaks: {statement} in a rule function"] += 1
            stats.notes.append(f"{rule_id}: {statement} skipped")
        pattern, secret_group, has_regex = compiled[rule_id]
        for example in example_items(result.tps, "tps", stats, rule_id):
            if isinstance(example, Sample):
                secret = example.secret
            elif pattern is None:
                secret = None
                why = "regex does not compile" if has_regex else "rule has no regex"
                stats.null_reasons[f"gitleaks: {why}"] += 1
            else:
                secret = gitleaks_secret(pattern, secret_group, example)
                if secret is None:
                    stats.null_reasons["gitleaks: regex finds no secret"] += 1
            records.append(
                record("gitleaks", commit, fn.path, rule_id, rule_name, "secret", example, secret)
            )
        for example in example_items(result.fps, "fps", stats, rule_id):
            records.append(
                record("gitleaks", commit, fn.path, rule_id, rule_name, "benign", example, None)
            )
    return records


def kingfisher_records(repo: Path, stats: Stats) -> list[dict[str, Any]]:
    """Records from the Kingfisher YAML rules."""
    commit = git_head(repo)
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar stays a string
    records = []
    for path in git_ls(repo, KINGFISHER_RULES_DIR):
        if not path.endswith((".yml", ".yaml")):
            continue
        try:
            doc = yaml.load(git_show(repo, path), Loader=loader) or {}
        except yaml.YAMLError as exc:
            stats.skipped["kingfisher: unparsable YAML file"] += 1
            stats.notes.append(f"{path}: YAML error {exc}")
            continue
        for rule in doc.get("rules") or []:
            rule_id, name = rule.get("id"), rule.get("name")
            stats.rule_ids["kingfisher"].add(rule_id)
            # a hidden rule captures the identifier that pairs with a secret (an app id,
            # a host), not a credential: its examples are labelled apart
            positive = "identifier" if str(rule.get("visible", "")).lower() == "false" else "secret"
            compiled = compile_kingfisher_regex(rule["pattern"]) if rule.get("pattern") else None
            for example in rule.get("examples") or []:
                if not isinstance(example, str):
                    stats.skipped["kingfisher: example that is not a string"] += 1
                    continue
                secret = None
                if compiled is None:
                    stats.null_reasons["kingfisher: pattern does not compile"] += 1
                else:
                    secret = kingfisher_secret(compiled, example)
                    if secret is None:
                        stats.null_reasons["kingfisher: pattern finds no secret"] += 1
                records.append(
                    record("kingfisher", commit, path, rule_id, name, positive, example, secret)
                )
            for example in rule.get("negative_examples") or []:
                if not isinstance(example, str):
                    stats.skipped["kingfisher: example that is not a string"] += 1
                    continue
                records.append(
                    record("kingfisher", commit, path, rule_id, name, "benign", example, None)
                )
    return records


def deduplicate(records: list[dict[str, Any]], stats: Stats) -> list[dict[str, Any]]:
    """Keep the first of identical (rule_id, label, example); drop empty examples (the
    content of path-only gitleaks rules) and benign copies of true positives."""
    secrets_seen = {(r["rule_id"], r["example"]) for r in records if r["label"] == "secret"}
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for rec in records:
        key = (rec["rule_id"], rec["label"], rec["example"])
        if key in seen:
            stats.skipped[f"{rec['source']}: duplicate record"] += 1
            continue
        seen.add(key)
        if not rec["example"]:
            stats.skipped[f"{rec['source']}: empty example"] += 1
            stats.notes.append(f"{rec['rule_id']}: empty {rec['label']} example dropped")
            continue
        if rec["label"] == "benign" and (rec["rule_id"], rec["example"]) in secrets_seen:
            stats.skipped[f"{rec['source']}: benign example identical to a true positive"] += 1
            stats.notes.append(f"{rec['rule_id']}: benign copy of a true positive dropped")
            continue
        kept.append(rec)
    return kept


def write_jsonl(records: list[dict[str, Any]], out: Path) -> None:
    """Write the records as JSON lines to a temporary file, then rename it over ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def report(records: list[dict[str, Any]], stats: Stats) -> None:
    """Print the counts to stderr."""
    by_label = Counter((r["source"], r["label"]) for r in records)
    print(f"records: {len(records)}", file=sys.stderr)
    for (source, label), count in sorted(by_label.items()):
        print(f"  {source:<10} {label:<6} {count}", file=sys.stderr)
    for source in ("gitleaks", "kingfisher"):
        rules = {r["rule_id"] for r in records if r["source"] == source}
        nulls = sum(
            1
            for r in records
            if r["source"] == source and r["label"] == "secret" and not r["secret"]
        )
        print(
            f"  {source}: rules covered {len(rules)} of {len(stats.rule_ids[source])},"
            f" secret null {nulls}",
            file=sys.stderr,
        )
    print("secret null (before deduplication), by reason:", file=sys.stderr)
    for reason, count in sorted(stats.null_reasons.items()):
        print(f"  {count:5}  {reason}", file=sys.stderr)
    print("skipped:", file=sys.stderr)
    for reason, count in sorted(stats.skipped.items()):
        print(f"  {count:5}  {reason}", file=sys.stderr)
    for note in stats.notes:
        print(f"  note: {note}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gitleaks", type=Path, required=True, help="gitleaks git repository")
    parser.add_argument("--kingfisher", type=Path, required=True, help="Kingfisher git repository")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL path")
    args = parser.parse_args(argv)
    stats = Stats()
    records = gitleaks_records(args.gitleaks, stats) + kingfisher_records(args.kingfisher, stats)
    records = deduplicate(records, stats)
    write_jsonl(records, args.out)
    report(records, stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
