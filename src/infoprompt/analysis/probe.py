"""The frozen linear probe: the reference every prompt method must beat to have learned anything of its own.

Features are the frozen backbone's mean-pooled last hidden states (all-MiniLM-L6-v2's own sentence embedding,
the project's `mean` readout); the classifier is scikit-learn's logistic regression, whose C is chosen on a
selection split and never on the split that is reported. A logistic regression from scikit-learn, not a torch
head: it is the standard probe, and its lbfgs fit is exact.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from infoprompt.readout import read_out

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def embed(texts: list[tuple[str, str | None]], tokenizer, model, batch_size: int = 64) -> np.ndarray:
    """Mean of the last hidden states over each input's real tokens (padding excluded)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            a, b = [t[0] for t in chunk], [t[1] for t in chunk]
            enc = tokenizer(a, b if any(x is not None for x in b) else None, padding=True, truncation=True,
                            max_length=128, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            out.append(read_out("mean", hidden, enc["attention_mask"], mask_pos=None).numpy())
    return np.concatenate(out)


def fit_probe(train_x, train_y, select_x, select_y, report_x, report_y) -> dict:
    """One logistic regression per C; keep the C with the best selection accuracy (ties: the smaller C), score the
    report split with it. Also the report split's majority rate and the probe's largest predicted-class share."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    best = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=2000).fit(train_x, train_y)
        score = accuracy_score(select_y, clf.predict(select_x))
        if best is None or score > best[0]:
            best = (score, c, clf)
    score, c, clf = best
    predictions = clf.predict(report_x)
    share = Counter(predictions.tolist()).most_common(1)[0][1] / len(report_y)
    majority = Counter(np.asarray(report_y).tolist()).most_common(1)
    return {"C": c, "selection_accuracy": float(score), "report_accuracy": float(accuracy_score(report_y, predictions)),
            "majority_rate": majority[0][1] / len(report_y), "majority_class": int(majority[0][0]),
            "predicted_share": share, "predicted_class": int(Counter(predictions.tolist()).most_common(1)[0][0]),
            "collapsed": share >= 0.95}
