"""Text-to-text formats: how a task's Example reads as a prompt that a generative LM continues.

A format is a body with `{a}` / `{b}` (the Example's text_a / text_b) and an answer cue; the model
continues the cue with a label's verbalizer word. SuperGLUE examples are laid out question-first
for encoders (data/superglue.py); here the context comes first and the question right before the
cue, as in reading-comprehension prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

from infoprompt.data.tasks import TaskSpec


@dataclass(frozen=True)
class TextFormat:
    body: str  # with {a} and (pair tasks) {b}
    cue: str  # the text the answer follows, e.g. "Answer:"


SUPERGLUE_PAIR = TextFormat("{b}\n{a}", "Answer:")
FORMATS: dict[str, TextFormat] = {
    "sst2": TextFormat("Review: {a}", "Sentiment:"),  # terrible / great
    "cola": TextFormat("Sentence: {a}\nIs this sentence grammatical?", "Answer:"),  # wrong / correct
    "rte": TextFormat("{a}\nQuestion: {b} True or false?", "Answer:"),  # yes / no
    "mrpc": TextFormat("Sentence 1: {a}\nSentence 2: {b}\nDo they mean the same?", "Answer:"),  # no / yes
    "superglue-copa": TextFormat("{a}", "Answer: option"),  # 1 / 2
    **{f"superglue-{name}": SUPERGLUE_PAIR for name in ("boolq", "cb", "multirc", "rte", "wic", "wsc")},
}


def task_format(task: TaskSpec) -> TextFormat:
    """The task's own format; other tasks (custom, SemEval) get a generic one by arity."""
    if task.name in FORMATS:
        return FORMATS[task.name]
    return TextFormat("{a}\n{b}" if task.pair else "{a}", "Answer:")
