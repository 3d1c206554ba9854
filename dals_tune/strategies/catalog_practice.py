"""The strategies practitioners compare against today: the matrix-aware optimizers (Muon,
SOAP, Shampoo), the recent Adam variants that lead optimizer comparisons (AdEMAMix, MARS,
ADOPT), the rest of the schedule-free family, and the hyperparameter-free methods of the
learning-rate-control comparison (arXiv 2507.01724) that the catalog lacked (COCOB, DoG).
Registered after :mod:`.catalog`'s records by ``dals_tune.strategies``.

``cautious`` (a true/false knob, searched as a categorical) is offered where the library has
cautious updates: the update is masked where its sign disagrees with the gradient's.
"""

from __future__ import annotations

from dals_tune.strategies.builders import build_ademamix, build_adopt, build_mars
from dals_tune.strategies.defaults import (
    FINETUNE_ADAM_LR,
    adam_defaults,
    both_regimes,
    sgd_defaults,
)
from dals_tune.strategies.hyperparameter_free import (
    build_cocob,
    build_dog,
    build_prodigy_schedulefree,
    build_schedulefree_radam,
    build_schedulefree_sgd,
)
from dals_tune.strategies.preconditioned import build_muon, build_shampoo, build_soap
from dals_tune.strategies.registry import Strategy, register

register(
    # --- matrix-aware ----------------------------------------------------------------------
    Strategy(
        id="muon",
        generation=4,
        family="orthogonalized",
        library="pytorch-optimizer",
        description="Muon on the hidden weight matrices, AdamW on embeddings, heads and vectors",
        defaults=adam_defaults(
            lr=1e-3, weight_decay=0.01, beta2=0.95, momentum=0.95, cautious=False
        ),
        builder=build_muon,
    ),
    Strategy(
        id="soap",
        generation=3,
        family="preconditioned",
        library="pytorch-optimizer",
        description="SOAP: Adam in the eigenbasis of Shampoo's preconditioner (every 10 steps)",
        defaults=adam_defaults(
            lr=3e-3, weight_decay=0.01, beta1=0.95, beta2=0.95, precondition_frequency=10
        ),
        builder=build_soap,
    ),
    Strategy(
        id="shampoo",
        generation=3,
        family="preconditioned",
        library="pytorch-optimizer",
        description="blocked Shampoo with RMSProp (Adam-style) grafting, roots every 10 steps",
        defaults=both_regimes(
            {
                "lr": 1e-3,
                "beta1": 0.9,
                "beta2": 0.999,
                "weight_decay": 0.01,
                "precondition_frequency": 10,
                "block_size": 512,
            },
            lr=FINETUNE_ADAM_LR,
        ),
        builder=build_shampoo,
    ),
    # --- recent Adam variants --------------------------------------------------------------
    Strategy(
        id="ademamix",
        generation=3,
        family="adaptive",
        library="pytorch-optimizer",
        description="AdEMAMix: Adam plus a slow EMA (beta3 0.9999, alpha 5, warmed up over T)",
        defaults=adam_defaults(
            lr=1e-3, weight_decay=0.01, beta3=0.9999, ademamix_alpha=5.0, cautious=False
        ),
        builder=build_ademamix,
    ),
    Strategy(
        id="mars",
        generation=3,
        family="adaptive",
        library="pytorch-optimizer",
        description="MARS-AdamW: AdamW on a variance-reduced gradient (gamma 0.025)",
        defaults=adam_defaults(
            lr=3e-3, weight_decay=0.01, beta1=0.95, beta2=0.99, mars_gamma=0.025, cautious=False
        ),
        builder=build_mars,
    ),
    Strategy(
        id="adopt",
        generation=3,
        family="adaptive",
        library="pytorch-optimizer",
        description="ADOPT: Adam normalizing by the previous steps' second moment (beta2 0.9999)",
        defaults=adam_defaults(lr=1e-3, weight_decay=0.01, beta2=0.9999, eps=1e-6, cautious=False),
        builder=build_adopt,
    ),
    # --- schedule-free ---------------------------------------------------------------------
    Strategy(
        id="schedulefree_sgd",
        generation=3,
        family="hyperparameter-free",
        library="schedulefree",
        description="schedule-free SGD (needs optimizer.train()/eval() around evaluation)",
        defaults=sgd_defaults(0.3, warmup_frac=0.05),
        builder=build_schedulefree_sgd,
        has_train_eval_modes=True,
    ),
    Strategy(
        id="schedulefree_radam",
        generation=3,
        family="hyperparameter-free",
        library="schedulefree",
        description="schedule-free RAdam: no warmup, no schedule (train()/eval() modes)",
        defaults=both_regimes(
            {"lr": 2.5e-3, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01},
            lr=FINETUNE_ADAM_LR,
        ),
        builder=build_schedulefree_radam,
        has_train_eval_modes=True,
    ),
    Strategy(
        id="prodigy_schedulefree",
        generation=3,
        family="hyperparameter-free",
        library="prodigy-plus-schedule-free",
        description="Prodigy's step-size estimate with schedule-free averaging (lr = 1)",
        defaults=both_regimes(
            {
                "lr": 1.0,
                "beta1": 0.9,
                "beta2": 0.99,
                "weight_decay": 0.01,
                "d_coef": 1.0,
                "cautious": False,
            }
        ),
        builder=build_prodigy_schedulefree,
        has_train_eval_modes=True,
    ),
    # --- hyperparameter-free ---------------------------------------------------------------
    Strategy(
        id="cocob",
        generation=3,
        family="hyperparameter-free",
        library="parameterfree",
        description="COCOB-Backprop: per-coordinate coin betting, no learning rate",
        defaults=both_regimes({"cocob_alpha": 100.0, "weight_decay": 0.0}),
        builder=build_cocob,
    ),
    Strategy(
        id="dog",
        generation=3,
        family="hyperparameter-free",
        library="dog-optimizer",
        description="DoG: SGD with distance-over-gradients step size (lr = 1 is a multiplier)",
        defaults=both_regimes({"lr": 1.0, "reps_rel": 1e-6, "weight_decay": 0.0}),
        builder=build_dog,
    ),
)
