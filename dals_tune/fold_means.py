"""K-fold selection's objective: one value per epoch from K fold models (``--folds K``).

A trial with K folds trains K models in lockstep, model k on every fold but the k-th, and
after epoch e of all K it reports their mean, for every evaluation value ``v`` (the
validation and test loss and metric):

    v(e) = (1/K) · Σ_k v_k(e)

So ``val_m`` (what Optuna and ASHA read) is the mean of the K validation values, each on its
own fold, and the schedulers compare trials at equal fold-epochs (epoch e is epoch e of every
fold). ``test_m`` is the mean of the K models' test values at that epoch, and
``test_m_at_best_val`` that mean at the epoch with the best mean validation value: reported,
never selected on. Each fold's own validation and test values come beside the means, as
``val_m_fold<k>`` and ``test_m_fold<k>`` (:meth:`dals_tune.objective.Objective.fold_key`),
and are logged per epoch like every other value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dals_tune.objective import Objective


def fold_mean(evaluations: Sequence[Mapping[str, float]], objective: Objective) -> dict[str, float]:
    """The mean over folds of each value in ``evaluations`` (one dict per fold, the same
    keys in each), with each fold's validation and test metric; one fold is returned as
    it is."""
    if len(evaluations) == 1:
        return dict(evaluations[0])
    means = {
        key: sum(evaluation[key] for evaluation in evaluations) / len(evaluations)
        for key in evaluations[0]
    }
    per_fold = {
        objective.fold_key(key, fold): evaluation[key]
        for fold, evaluation in enumerate(evaluations)
        for key in (objective.val_key, objective.test_key)
    }
    return {**means, **per_fold}
