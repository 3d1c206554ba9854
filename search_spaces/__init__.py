"""Search spaces of the learning-rate strategies (DESIGN §5), declared once as data.

- ``parameter``: the ``Parameter`` and ``Space`` records;
- ``spec``: every strategy's searched parameters (``SPECS``; ``NOTHING_TO_TUNE`` says why a
  space is empty);
- ``resolve``: ``space_for`` and ``default_config`` (defaults from the strategy registry),
  every range checked against ``dals_tune.strategies.bounds`` (what each hyperparameter name
  accepts, and the constraints between names: the same table a trial is checked against),
  and ``learning_rates_only`` (a space narrowed to its ``LEARNING_RATES``);
- ``optuna_space``: define-by-run functions for per-strategy and joint Optuna studies;
- ``space_file``: ``load_space_file``, a user's YAML/JSON file narrowing or pinning ranges;
- ``describe``: ``describe_markdown``, the table in docs/search_spaces.md.

The Ray Tune ``param_space`` is ``dals_tune.study.tune_param_space(space)`` (the only module
that imports Ray).
"""

from search_spaces.describe import describe_markdown
from search_spaces.optuna_space import (
    STRATEGY_KEY,
    joint_default_params,
    joint_define_by_run,
    joint_name,
    per_strategy_define_by_run,
)
from search_spaces.parameter import Parameter, Space
from search_spaces.resolve import default_config, learning_rates_only, space_for
from search_spaces.space_file import load_space_file
from search_spaces.spec import LEARNING_RATES, NOTHING_TO_TUNE, SPECS

__all__ = [
    "LEARNING_RATES",
    "NOTHING_TO_TUNE",
    "SPECS",
    "STRATEGY_KEY",
    "Parameter",
    "Space",
    "default_config",
    "describe_markdown",
    "joint_default_params",
    "joint_define_by_run",
    "joint_name",
    "learning_rates_only",
    "load_space_file",
    "per_strategy_define_by_run",
    "space_for",
]
