"""The official SemEval-2010 Task 8 score: (9+1)-way macro-F1 with directionality taken into account.

This restates the counting rules of the task's scorer (semeval2010_task8_scorer-v1.2.pl, score
(iii), "the official score"):

- Labels are compared as undirected relations (`Cause-Effect`, ..., `Other`), but a prediction only
  counts as correct when its direction matches too.
- A prediction with the right relation but the wrong direction ("xDIRx") is wrong twice over for
  that relation: it is missing from the relation's true positives (a false negative) *and* it is
  in the relation's precision denominator (a false positive). Precision of R is therefore
  correct(R) / (all predictions whose relation is R, in either direction).
- Recall of R is correct(R) / (gold examples of R).  F1 = 2PR / (P + R), 0 when P + R = 0.
- The macro average is the mean of the per-relation F1 values over the relations that occur in
  the gold key, Other excluded (a relation that is only predicted, never gold, does not count).
  Predicting Other for a gold relation is a false negative of that relation; predicting a relation
  for gold Other is a false positive of that relation.
- Accuracy is the share of exact matches (relation and direction; Other = Other is correct),
  which is the scorer's accuracy for (iii) and sklearn's `accuracy_score` on the 19 labels.

Hand-written rather than `sklearn.metrics.precision_recall_fscore_support`: no sklearn averaging
counts a wrong-direction prediction both against precision and recall of the *same* relation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from infoprompt.data.semeval import LABELS, OTHER, RELATIONS, undirected  # noqa: F401  (the label set lives with the data)
from infoprompt.evaluation.metrics import register_metric


@dataclass(frozen=True)
class RelationScore:
    """One relation's counts and scores under the official rules (scores as fractions, not %)."""

    correct: int
    predicted: int  # predictions of this relation in either direction (includes wrong directions)
    wrong_direction: int  # gold examples of this relation predicted with the other direction
    gold: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def official_scores(gold: Sequence[str], predicted: Sequence[str], other: str = OTHER) -> dict[str, RelationScore]:
    """Per-relation counts for every relation of the gold key except `other`."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    correct: Counter[str] = Counter()
    predicted_count: Counter[str] = Counter()
    wrong_direction: Counter[str] = Counter()
    gold_count = Counter(undirected(g) for g in gold)
    for g, p in zip(gold, predicted):
        relation = undirected(p)
        predicted_count[relation] += 1
        if p == g:
            correct[relation] += 1
        elif relation == undirected(g):
            wrong_direction[relation] += 1
    return {
        relation: RelationScore(correct[relation], predicted_count[relation], wrong_direction[relation], n)
        for relation, n in sorted(gold_count.items())
        if relation != other
    }


def official_macro_f1(gold: Sequence[str], predicted: Sequence[str], other: str = OTHER) -> float:
    """The official score (as a fraction): mean F1 over the gold key's relations, Other excluded."""
    scores = official_scores(gold, predicted, other)
    return sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0


def directional_macro_f1_metric(label_names: Sequence[str], other: str = OTHER):
    """A `Metric` over label ids for a task whose label names are `Relation(e1,e2)` / `Other`."""
    names = list(label_names)

    def metric(labels: Sequence[int], predictions: Sequence[int]) -> float:
        return official_macro_f1([names[i] for i in labels], [names[i] for i in predictions], other)

    return metric


register_metric("semeval_macro_f1", directional_macro_f1_metric(LABELS))
