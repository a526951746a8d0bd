"""The Ollama Modelfile of a deployed model, with a TEMPLATE that renders exactly what the
tokenizer's own chat template renders.

The Jinja chat template is not translated by reading it. It is *measured*: rendered
with sentinel messages, which gives the text each role puts before and after its
content, the text that opens the document, the generation prompt and any default
system prompt the template inserts. Those pieces become a Go template of one fixed
shape (`go_template`). `render_go_template` interprets that shape the way Ollama does,
and `check_template_parity` requires identical strings against
`tokenizer.apply_chat_template` for a set of conversations; a template that is not
"the same wrapper around every message" fails there with a clear error rather than
shipping a model that is prompted differently from how it was trained.

Ollama's Modelfile parser has no escape sequences: a value is cut at the first
whitespace after a closing `\"\"\"`. So every `\"\"\"` inside text we write is broken with
a zero-width space (`""\\u200b"`), and control characters Ollama would drop are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

ROLES = ("system", "user", "assistant")
_SENTINEL = {role: f"\u27e6{role}-sentinel\u27e7" for role in ROLES}
_BREAK = '""\u200b"'


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class ChatShape:
    """What a per-message chat template puts around each message."""

    document_prefix: str
    before: dict[str, str]
    after: dict[str, str]
    generation_prompt: str
    default_system: str | None


def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )


def _message(role: str) -> dict:
    return {"role": role, "content": _SENTINEL[role]}


def measure_chat_shape(tokenizer) -> ChatShape:
    system, user, assistant = (_message(r) for r in ROLES)
    with_system = _render(tokenizer, [system], False)
    upto_user = _render(tokenizer, [system, user], False)
    upto_assistant = _render(tokenizer, [system, user, assistant], False)
    prompted = _render(tokenizer, [system, user], True)
    if not (
        upto_user.startswith(with_system)
        and upto_assistant.startswith(upto_user)
        and prompted.startswith(upto_user)
    ):
        raise TemplateError("the chat template does not render conversations by appending messages")
    before, after = {}, {}
    head, _, after["system"] = with_system.partition(_SENTINEL["system"])
    before["user"], _, after["user"] = upto_user[len(with_system) :].partition(_SENTINEL["user"])
    before["assistant"], _, after["assistant"] = upto_assistant[len(upto_user) :].partition(
        _SENTINEL["assistant"]
    )
    generation_prompt = prompted[len(upto_user) :]
    # Without a system message: either the same wrapper with nothing before it, or the
    # template inserts its own system prompt, which Ollama's SYSTEM reproduces.
    user_only = _render(tokenizer, [user], False)
    user_part = before["user"] + _SENTINEL["user"] + after["user"]
    if not user_only.endswith(user_part):
        raise TemplateError(
            "the chat template renders a user message differently when it comes first"
        )
    lead = user_only[: -len(user_part)]
    document_prefix, default_system = lead, None
    if lead and lead.endswith(after["system"]):
        prefix_and_system = lead[: len(lead) - len(after["system"])]
        for split in range(len(prefix_and_system) + 1):
            prefix = prefix_and_system[:split]
            if head.startswith(prefix) and prefix_and_system[split:].startswith(
                head[len(prefix) :]
            ):
                document_prefix = prefix
                default_system = prefix_and_system[split + len(head) - len(prefix) :]
                break
    before["system"] = head[len(document_prefix) :]
    if not head.startswith(document_prefix):
        raise TemplateError(
            "the chat template opens the document differently with a system message"
        )
    return ChatShape(document_prefix, before, after, generation_prompt, default_system or None)


def _literal(text: str) -> str:
    """Literal template text; anything holding '{{' becomes a quoted Go string action."""
    return text if "{{" not in text else "{{ " + json.dumps(text) + " }}"


def go_template(shape: ChatShape) -> str:
    branches = "".join(
        ("{{ if" if i == 0 else "{{ else if")
        + f' eq .Role "{role}" }}}}'
        + _literal(shape.before[role])
        + "{{ .Content }}"
        + _literal(shape.after[role])
        for i, role in enumerate(ROLES)
    )
    return (
        _literal(shape.document_prefix)
        + "{{ range .Messages }}"
        + branches
        + "{{ end }}{{ end }}"
        + _literal(shape.generation_prompt)
    )


_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_CONDITION = re.compile(r'(?:else )?if eq \.Role "(\w+)"')


def _parse(tokens: list[tuple[str, str]], index: int) -> tuple[list, int]:
    """Nodes until an `end` / `else…` at this level (or the end); the index it stopped at."""
    nodes: list = []
    while index < len(tokens):
        kind, value = tokens[index]
        if kind == "text":
            nodes.append(("text", value))
        elif value == "end" or value.startswith("else"):
            return nodes, index
        elif value.startswith('"'):
            nodes.append(("text", json.loads(value)))
        elif value in (".Content", ".Role"):
            nodes.append(("field", value[1:].lower()))
        elif value == "range .Messages":
            body, index = _parse(tokens, index + 1)
            nodes.append(("range", body))
        elif (condition := _CONDITION.fullmatch(value)) is not None:
            branches = []
            while True:
                body, index = _parse(tokens, index + 1)
                branches.append((condition.group(1), body))
                closing = tokens[index][1] if index < len(tokens) else None
                if closing == "end":
                    break
                condition = _CONDITION.fullmatch(closing or "")
                if condition is None:
                    raise TemplateError(f"unsupported template action {{{{ {closing} }}}}")
            nodes.append(("if", branches))
        else:
            raise TemplateError(f"unsupported template action {{{{ {value} }}}}")
        index += 1
    return nodes, index


def _evaluate(nodes: list, messages: list[dict], message: dict | None, out: list[str]) -> None:
    for kind, value in nodes:
        if kind == "text":
            out.append(value)
        elif kind == "field":
            out.append(message[value])
        elif kind == "range":
            for each in messages:
                _evaluate(value, messages, each, out)
        else:
            for role, body in value:
                if message["role"] == role:
                    _evaluate(body, messages, message, out)
                    break


def render_go_template(template: str, messages: list[dict], system: str | None) -> str:
    """Render a template of `go_template`'s shape as Ollama does for a chat request: the
    Modelfile's SYSTEM is put first when the request carries no system message."""
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": system}, *messages]
    tokens: list[tuple[str, str]] = []
    position = 0
    for match in _ACTION.finditer(template):
        tokens += [("text", template[position : match.start()]), ("action", match.group(1).strip())]
        position = match.end()
    tokens.append(("text", template[position:]))
    nodes, stopped = _parse(tokens, 0)
    if stopped != len(tokens):
        raise TemplateError("the template has an `end` or `else` without its block")
    out: list[str] = []
    _evaluate(nodes, messages, None, out)
    return "".join(out)


PARITY_CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}],
    [{"role": "system", "content": "You answer in French."}, {"role": "user", "content": "Hello"}],
    [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": 'And {{ 3+3 }}?\nAnswer "briefly".'},
    ],
]


def check_template_parity(tokenizer, template: str, system: str | None) -> None:
    for messages in PARITY_CONVERSATIONS:
        expected = _render(tokenizer, messages, True)
        got = render_go_template(template, messages, system)
        if got != expected:
            raise TemplateError(
                f"the Ollama template renders {got!r} where the tokenizer renders {expected!r}"
            )


def modelfile_text(value: str) -> str:
    """`value` as a triple-quoted Modelfile argument that cannot end early."""
    bad = sorted({hex(ord(c)) for c in value if ord(c) < 32 and c not in "\n\t"})
    if bad:
        raise TemplateError(f"control characters {bad} cannot go into a Modelfile")
    return '"""' + value.replace('"""', _BREAK) + '"""'


def stop_tokens(shape: ChatShape, eos_token: str | None) -> list[str]:
    """The end-of-turn markers: the special token that closes an assistant message."""
    stops = []
    closing = shape.after["assistant"].strip()
    if closing:
        stops.append(closing)
    if eos_token and eos_token not in stops:
        stops.append(eos_token)
    return stops


def render_modelfile(
    template: str,
    system: str | None,
    stops: list[str],
    num_ctx: int,
    weights: str = "./model.gguf",
    adapter: str | None = None,
) -> str:
    lines = [f"FROM {weights}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    lines.append(f"TEMPLATE {modelfile_text(template)}")
    if system:
        lines.append(f"SYSTEM {modelfile_text(system)}")
    lines += [f"PARAMETER stop {modelfile_text(stop)}" for stop in stops]
    lines.append(f"PARAMETER num_ctx {num_ctx}")
    return "\n".join(lines) + "\n"
