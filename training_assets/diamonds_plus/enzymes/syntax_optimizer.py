"""syntax-optimizer: tidy fenced code blocks without guessing at broken code.

For each fenced block (``` or ~~~) in the question and the answer:

- the fence gets a language when it has none: JSON if it parses as JSON, Python if
  `ast` parses it and it reads like Python, else Pygments' `guess_lexer` when it is
  sure of something other than plain text; a given language is normalised to its
  Pygments alias (`py` → `python`, `js` → `javascript`);
- indentation is made consistent (leading tabs become four spaces, the common margin is
  removed) and trailing whitespace goes;
- Python is checked with `ast` and formatted with Black; JSON is checked with `json`.
  A block that does not parse is flagged (`broken_code_blocks`) and left as it is:
  a wrong guess at what the author meant would be worse than the flag.
- an unclosed fence is flagged too.

Quality: +2 when a span has code and all of it parses; −5 per broken block and −5 for
an unclosed fence, at most −15 in all.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache

from training_assets.diamonds_plus.enzymes.base import EnzymeResult

_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n`]*$")
_PYTHONIC = re.compile(
    r"^\s*(?:def |class |import |from [\w.]+ import |print\(|if __name__|for \w+ in |"
    r"while .*:$|with .*:$|@\w+|elif |try:|except\b|return\b|async def )",
    re.MULTILINE,
)
_CHECKED = {"python", "json"}


@dataclass
class Block:
    indent: str
    fence: str
    language: str
    body: list[str]
    closed: bool


def split_blocks(text: str) -> list[str | Block]:
    """Text as alternating prose (str) and fenced blocks, losslessly for prose."""
    parts: list[str | Block] = []
    prose: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence, language = opening.groups()
        body, i, closed = [], i + 1, False
        while i < len(lines):
            if lines[i].strip() == fence[0] * len(fence) or (
                lines[i].strip().startswith(fence) and not lines[i].strip().strip(fence[0])
            ):
                closed, i = True, i + 1
                break
            body.append(lines[i])
            i += 1
        if prose:
            parts.append("\n".join(prose))
            prose = []
        parts.append(Block(indent, fence, language, body, closed))
    if prose:
        parts.append("\n".join(prose))
    return parts


def join_blocks(parts: list[str | Block]) -> str:
    lines = []
    for part in parts:
        if isinstance(part, str):
            lines.append(part)
            continue
        block = [f"{part.indent}{part.fence}{part.language}"]
        block += [f"{part.indent}{line}" if line else line for line in part.body]
        if part.closed:
            block.append(f"{part.indent}{part.fence}")
        lines.append("\n".join(block))
    return "\n".join(lines)


@lru_cache(maxsize=512)
def canonical_language(name: str) -> str:
    # the class, not an instance: instantiating a Pygments lexer compiles all its regexes
    from pygments.lexers import find_lexer_class_by_name
    from pygments.util import ClassNotFound

    try:
        return find_lexer_class_by_name(name.lower()).aliases[0]
    except ClassNotFound:
        return name.lower()


def detect_language(code: str) -> str | None:
    stripped = code.strip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass
    if _PYTHONIC.search(code):
        try:
            ast.parse(code)
            return "python"
        except (SyntaxError, ValueError):
            pass
    from pygments.lexers import guess_lexer
    from pygments.util import ClassNotFound

    try:
        lexer = guess_lexer(code)
    except ClassNotFound:
        return None
    alias = lexer.aliases[0] if lexer.aliases else None
    return None if alias in (None, "text", "output") else alias


def normalise_indentation(body: list[str]) -> list[str]:
    lines = [line.rstrip() for line in body]
    if any(line.startswith("\t") for line in lines) and any(line.startswith(" ") for line in lines):
        lines = [re.sub(r"^\t+", lambda m: "    " * len(m.group()), line) for line in lines]
    text = textwrap.dedent("\n".join(lines)).strip("\n")
    return text.split("\n") if text else []


def check_and_format(language: str, code: str) -> tuple[str, bool]:
    """(possibly formatted code, parses) for checked languages."""
    if language == "json":
        try:
            json.loads(code)
            return code, True
        except ValueError:
            return code, False
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return code, False
    import black

    try:
        return black.format_str(code, mode=black.Mode()).rstrip("\n"), True
    except Exception:  # black refuses some code ast accepts (e.g. odd encodings): keep it
        return code, True


@dataclass
class SyntaxOptimizer:
    name: str = "syntax-optimizer"

    def optimise(self, text: str, notes: list[str]) -> tuple[str, int, int, bool]:
        """(text, code blocks, broken blocks, an unclosed fence)."""
        parts = split_blocks(text)
        blocks = broken = 0
        unclosed = False
        for part in parts:
            if not isinstance(part, Block):
                continue
            blocks += 1
            body = normalise_indentation(part.body)
            code = "\n".join(body)
            language = canonical_language(part.language) if part.language else detect_language(code)
            if language and not part.language:
                notes.append(f"fence language '{language}'")
            if language in _CHECKED and code:
                formatted, parses = check_and_format(language, code)
                if not parses:
                    broken += 1
                    notes.append(f"{language} block does not parse (flagged, left as is)")
                    body = [line.rstrip() for line in part.body]  # only whitespace touched
                elif formatted != code:
                    body = formatted.split("\n")
                    notes.append(f"{language} block formatted")
            if not part.closed:
                unclosed = True
                notes.append("unclosed code fence (flagged)")
            part.body = body
            part.language = language or ""
        return (join_blocks(parts) if blocks else text), blocks, broken, unclosed

    def __call__(self, span: dict) -> EnzymeResult:
        texts = {name: span.get(name) for name in ("this", "if_ok")}
        if not any(t and ("```" in t or "~~~" in t) for t in texts.values()):
            return EnzymeResult(span)
        out, notes = dict(span), []
        blocks = broken = flagged_fences = 0
        for name, text in texts.items():
            if not text:
                continue
            new_text, n, bad, unclosed = self.optimise(text, notes)
            blocks, broken, flagged_fences = blocks + n, broken + bad, flagged_fences + unclosed
            out[name] = new_text
        out["code_blocks"] = blocks
        out["broken_code_blocks"] = broken
        if not blocks:
            return EnzymeResult(span)
        penalty = 5.0 * (broken + flagged_fences)
        delta = -min(15.0, penalty) if penalty else 2.0
        changed = out["this"] != span.get("this") or out["if_ok"] != span.get("if_ok")
        changes = notes if changed or broken or flagged_fences else []
        return EnzymeResult(out, changes, delta, effective=True)
