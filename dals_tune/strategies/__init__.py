"""The registry of learning-rate strategies (DESIGN §4) and the one factory that builds them.

A strategy is a frozen :class:`Strategy` record: its id (the name the CLI uses), its
generation and family, the library that backs it, its default hyperparameters per regime
("scratch", "finetune") and a builder. :func:`build` turns an id, a model and a run length
into ``(optimizer, scheduler_or_None)``; every schedule is stepped once per optimizer step.
A training loop calls :func:`optimizer_step` after ``loss.backward()`` and, when the
scheduler is not None, ``scheduler.step()`` after it::

    strategy = strategies.get("stlr_discriminative")
    optimizer, scheduler = strategies.build(strategy.id, model, total_steps=T)
    for x, y in batches:

        def recompute():  # zero-grad, forward, backward; SAM calls it again inside step
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            return loss

        loss = recompute()
        strategies.optimizer_step(strategy, optimizer, loss.item(), recompute)
        if scheduler is not None:
            scheduler.step()

Two records need more of the loop: ``needs_closure`` (SAM: ``recompute`` is called once more
inside the step, at the perturbed weights) and ``has_train_eval_modes`` (schedule-free AdamW:
call ``optimizer.train()`` before training steps and ``optimizer.eval()`` before evaluating or
checkpointing, because it evaluates at a different point than it trains at).

Where things live:

- ``registry``: the ``Strategy`` record, ``REGISTRY``, ``get``, ``resolve_config``, ``build``,
  ``optimizer_step``;
- ``param_groups``: trainable parameters and the per-layer LR splits;
- ``builders``: one builder per strategy or family (a strategy's special case lives there);
- ``defaults``: the default hyperparameters per regime shared by families of records;
- ``catalog``: the 28 records, which builder each id uses with which defaults. Importing this
  package registers them.
"""

from dals_tune.strategies import catalog  # noqa: F401  (registers the 28 records)
from dals_tune.strategies.builders import REFINED_BASES
from dals_tune.strategies.defaults import FINETUNE_ADAM_LR, FINETUNE_SGD_DIVISOR
from dals_tune.strategies.param_groups import (
    discriminative_groups,
    layerwise_groups,
    trainable_parameters,
)
from dals_tune.strategies.registry import (
    LIBRARY_LICENCES,
    REGIMES,
    REGISTRY,
    BuildContext,
    Builder,
    Built,
    Strategy,
    build,
    get,
    optimizer_step,
    register,
    resolve_config,
)

__all__ = [
    "FINETUNE_ADAM_LR",
    "FINETUNE_SGD_DIVISOR",
    "LIBRARY_LICENCES",
    "REFINED_BASES",
    "REGIMES",
    "REGISTRY",
    "BuildContext",
    "Builder",
    "Built",
    "Strategy",
    "build",
    "discriminative_groups",
    "get",
    "layerwise_groups",
    "optimizer_step",
    "register",
    "resolve_config",
    "trainable_parameters",
]
