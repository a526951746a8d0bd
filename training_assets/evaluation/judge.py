"""An optional judge: a model behind any OpenAI-compatible chat endpoint (llama.cpp's
server, vLLM, Ollama) grades each golden answer against its reference, 1–10.

Off by default (`judge_url` empty). The prompt is `prompts/judge.md`, in the repo, so a
change to it is a reviewed change. Grades are greedy (temperature 0) and parsed from
`score: N`; a reply without one is recorded as missing, never guessed. The per-example
grade is one more golden column (`judge_score`), compared pairwise like chrF.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROMPT = (Path(__file__).parent / "prompts" / "judge.md").read_text()
_SCORE = re.compile(r"score\s*[:=]\s*(10|[1-9])\b", re.IGNORECASE)


class JudgeError(RuntimeError):
    pass


def judge_prompt(conversation: Sequence[dict], reference: str, answer: str) -> str:
    shown = "\n\n".join(f"{m['role']}: {m['content']}" for m in conversation)
    return PROMPT.format(conversation=shown, reference=reference, answer=answer)


def parse_score(reply: str) -> int | None:
    match = _SCORE.search(reply or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Judge:
    url: str  # the server's base, e.g. http://127.0.0.1:8080 (…/v1/chat/completions is added)
    model: str = ""
    timeout: float = 120.0
    max_tokens: int = 16

    def grade(self, conversation: Sequence[dict], reference: str, answer: str) -> int | None:
        import requests

        try:
            response = requests.post(
                f"{self.url.rstrip('/')}/v1/chat/completions",
                json={
                    "model": self.model or "judge",
                    "messages": [
                        {"role": "user", "content": judge_prompt(conversation, reference, answer)}
                    ],
                    "temperature": 0.0,
                    "max_tokens": self.max_tokens,
                },
                timeout=self.timeout,
            )
            response.raise_for_status()
        except requests.RequestException as error:
            raise JudgeError(f"the judge at {self.url} did not answer: {error}") from error
        return parse_score(response.json()["choices"][0]["message"]["content"])

    def grade_all(
        self, conversations: Sequence[Sequence[dict]], references: Sequence[str], answers
    ) -> list[int | None]:
        return [
            self.grade(c, r, a) for c, r, a in zip(conversations, references, answers, strict=True)
        ]
