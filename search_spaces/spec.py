"""Every strategy's search space, declared once, as data (DESIGN §5).

Defaults are not written here: a parameter's default is the registry's default for the regime
(``strategies.resolve_config(id, regime)``). LRs are searched log-uniformly over
[default/10, default·10] (``relative=True``), so the fine-tuning regime's lower LRs get their
own range; bounded knobs have absolute bounds.

The DALS phase boundaries are searched over disjoint log ranges that meet at 3e-3
(τ_lo in [1e-4, 3e-3], τ_hi in [3e-3, 0.1]): every sample keeps τ_lo ≤ τ_hi, as DALS
requires, with no clipping and no derived parameter, in Optuna and in Ray Tune alike.
A space file that makes the ranges overlap is rejected (``dals_tune.strategies.CONSTRAINTS``).
"""

from __future__ import annotations

from search_spaces.parameter import Parameter


def around_default(name: str, factor: float = 10.0) -> Parameter:
    """Log-uniform over [default/factor, default·factor], the default being the regime's."""
    return Parameter(name, "float", 1.0 / factor, factor, log=True, relative=True)


def uniform(name: str, low: float, high: float) -> Parameter:
    return Parameter(name, "float", low, high)


def log_uniform(name: str, low: float, high: float) -> Parameter:
    return Parameter(name, "float", low, high, log=True)


def integer(name: str, low: int, high: int) -> Parameter:
    return Parameter(name, "int", low, high)


def categorical(name: str, *choices: object) -> Parameter:
    return Parameter(name, "categorical", choices=choices)


LR = around_default("lr")
MOMENTUM = uniform("momentum", 0.8, 0.99)
WEIGHT_DECAY = log_uniform("weight_decay", 1e-6, 1e-1)
BETA1 = uniform("beta1", 0.8, 0.95)
BETA2 = uniform("beta2", 0.95, 0.9999)
WARMUP_FRAC = uniform("warmup_frac", 0.0, 0.2)
LAYER_DIVISOR = uniform("layer_divisor", 1.0, 4.0)
RHO = log_uniform("rho", 0.01, 1.0)
TRUST_COEFFICIENT = log_uniform("trust_coefficient", 0.002, 0.2)
CAUTIOUS = categorical("cautious", False, True)
PRECONDITION_FREQUENCY = integer("precondition_frequency", 5, 50)

SGD = (LR, MOMENTUM, WEIGHT_DECAY)
# Adam and RAdam default to no (coupled L2) weight decay: AdamW is the strategy for that.
ADAM = (LR, BETA1, BETA2)
ADAMW = (LR, BETA1, BETA2, WEIGHT_DECAY)

STLR_DISCRIMINATIVE = (
    *SGD,
    LAYER_DIVISOR,
    uniform("cut_frac", 0.05, 0.3),
    log_uniform("ratio", 8.0, 64.0),
)

DALS_WITHOUT_WARMUP = (
    LR,
    MOMENTUM,
    WEIGHT_DECAY,
    log_uniform("tau_hi", 3e-3, 1e-1),
    log_uniform("tau_lo", 1e-4, 3e-3),
    uniform("depth_decay", 0.5, 1.0),
    uniform("alpha0", 0.3, 0.9),
    uniform("grokfast_lambda", 0.0, 2.0),
    uniform("blend_lo", 0.0, 1.0),
    uniform("blend_hi", 0.0, 1.0),
    TRUST_COEFFICIENT,
)
DALS = (*DALS_WITHOUT_WARMUP[:3], WARMUP_FRAC, *DALS_WITHOUT_WARMUP[3:])

SPECS: dict[str, tuple[Parameter, ...]] = {
    "fixed_sgd": SGD,
    "cosine_sgd": SGD,
    "sgdr": (*SGD, integer("first_cycle_epochs", 1, 10), integer("cycle_mult", 1, 3)),
    "adam": ADAM,
    "adamw": ADAMW,
    "adabound": (LR, around_default("final_lr"), log_uniform("gamma", 1e-4, 1e-2), BETA1),
    "lars": (*SGD, TRUST_COEFFICIENT),
    "discriminative": (*SGD, LAYER_DIVISOR),
    "radam": ADAM,
    "lion": (LR, BETA1, uniform("beta2", 0.9, 0.999), WEIGHT_DECAY, CAUTIOUS),
    "lookahead_adamw": (
        *ADAMW,
        integer("lookahead_k", 3, 10),
        uniform("lookahead_alpha", 0.3, 0.8),
    ),
    "sam": (*SGD, RHO),
    "grokfast": (
        *SGD,
        uniform("grokfast_alpha", 0.8, 0.99),
        uniform("grokfast_lambda", 0.0, 5.0),
    ),
    "stlr_discriminative": STLR_DISCRIMINATIVE,
    # The paper code's version searches what the correct one does, so the two compare.
    "stlr_discriminative_paper": STLR_DISCRIMINATIVE,
    "sam_discriminative": (*SGD, RHO, LAYER_DIVISOR),
    "dals": DALS,
    "dals_fast": DALS,
    "dals_acc": DALS_WITHOUT_WARMUP,  # warm restarts, no warmup
    "linear_decay_sgd": (*SGD, WARMUP_FRAC),
    "linear_decay_adamw": (*ADAMW, WARMUP_FRAC),
    # The peak LR multiplies the refined schedule; its default is the base optimizer's.
    "refined": (LR, WEIGHT_DECAY),
    "wsd": (
        *ADAMW,
        WARMUP_FRAC,
        uniform("decay_frac", 0.1, 0.5),
        categorical("cooldown", "1-sqrt", "linear", "cosine"),
    ),
    "onecycle": (
        LR,
        WEIGHT_DECAY,
        uniform("pct_start", 0.1, 0.5),
        log_uniform("div_factor", 5.0, 100.0),
    ),
    "llrd_adamw": (*ADAMW, uniform("layer_decay", 0.5, 1.0)),
    "lamb": ADAMW,
    "prodigy": (),
    "dadapt_adam": (),
    "schedulefree_adamw": (LR, BETA1, WEIGHT_DECAY, WARMUP_FRAC),
    "muon": (LR, MOMENTUM, WEIGHT_DECAY, CAUTIOUS),
    "soap": (LR, BETA1, uniform("beta2", 0.9, 0.99), WEIGHT_DECAY, PRECONDITION_FREQUENCY),
    "shampoo": (LR, BETA1, WEIGHT_DECAY, PRECONDITION_FREQUENCY),
    "ademamix": (
        *ADAMW,
        uniform("beta3", 0.999, 0.9999),
        uniform("ademamix_alpha", 2.0, 10.0),
        CAUTIOUS,
    ),
    "mars": (LR, BETA1, WEIGHT_DECAY, log_uniform("mars_gamma", 0.005, 0.1), CAUTIOUS),
    "adopt": (LR, BETA1, WEIGHT_DECAY, CAUTIOUS),
    "schedulefree_sgd": (*SGD, WARMUP_FRAC),
    "schedulefree_radam": (LR, BETA1, WEIGHT_DECAY),
    # The step size is estimated; what is left to choose is whether updates are cautious.
    "prodigy_schedulefree": (CAUTIOUS,),
    "cocob": (),
    "dog": (),
}

# The learning-rate dimensions: what a learning-rate-only search (``search --search lr``,
# ``search_spaces.learning_rates_only``) samples, every other parameter at its default.
# AdaBound's final_lr is the SGD learning rate its bounds close in on.
LEARNING_RATES = ("lr", "final_lr")
NO_LEARNING_RATE = (
    "no learning rate to search: the step size is estimated; evaluated at its defaults"
)

ESTIMATED_STEP = (
    "hyperparameter-free: the step size is estimated (lr = 1 is a multiplier); "
    "evaluated at its defaults"
)
NOTHING_TO_TUNE: dict[str, str] = {
    "prodigy": ESTIMATED_STEP,
    "dadapt_adam": ESTIMATED_STEP,
    "dog": ESTIMATED_STEP,
    "cocob": "hyperparameter-free: each coordinate's step is a bet on its past gradients; "
    "evaluated at its defaults",
}
