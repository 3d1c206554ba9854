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
inside the step, at the perturbed weights) and ``has_train_eval_modes`` (the schedule-free
optimizers: call ``optimizer.train()`` before training steps and ``optimizer.eval()`` before
evaluating or checkpointing, because they evaluate at a different point than they train at).
One needs more than its hyperparameters: ``needs_source_run`` (refined: a finished run's
gradient norms, which :func:`supply_inputs` reads from the trial's ``source_run_file``). Code
outside this package asks the record these questions; it never tests a strategy's id.

Where things live:

- ``registry``: the ``Strategy`` record, ``REGISTRY``, ``get``, ``resolve_config``,
  ``concrete_config``, ``check_hyperparameters``, ``supply_inputs``, ``build``,
  ``optimizer_step``;
- ``bounds``: what each hyperparameter name accepts and the constraints between names, the
  one table every check (trials, DALS, search spaces) reads;
- ``param_groups``: trainable parameters and the per-layer LR splits;
- ``refined``: the refined strategy, whose special cases are more than a builder;
- ``defaults``: the default hyperparameters per regime shared by families of records;
- ``builders``, ``preconditioned`` (Muon's parameter split, SOAP, Shampoo) and
  ``hyperparameter_free`` (estimated step sizes, schedule-free): one builder per strategy or
  family (a strategy's special case lives there);
- ``catalog`` (the DALS paper's 18 and the literature's extras) and ``catalog_practice`` (what
  practitioners compare against today): the records, which builder each id uses with which
  defaults. Importing this package registers them.
"""

from dals_tune.strategies import catalog, catalog_practice  # noqa: F401  (register the records)
from dals_tune.strategies.bounds import (
    ACCEPTED,
    ACCEPTED_CHOICES,
    CONSTRAINTS,
    NOT_SEARCHABLE,
    AtMost,
    Interval,
    SumAtMostOne,
    constraint_problem,
    value_problem,
)
from dals_tune.strategies.defaults import FINETUNE_ADAM_LR, FINETUNE_SGD_DIVISOR
from dals_tune.strategies.param_groups import (
    discriminative_groups,
    layerwise_groups,
    trainable_parameters,
)
from dals_tune.strategies.refined import REFINED, REFINED_BASES
from dals_tune.strategies.registry import (
    LIBRARY_LICENCES,
    REGIMES,
    REGISTRY,
    BuildContext,
    Builder,
    Built,
    SourceRunInputs,
    Strategy,
    build,
    check_hyperparameters,
    concrete_config,
    get,
    optimizer_step,
    register,
    resolve_config,
    supply_inputs,
)

__all__ = [
    "ACCEPTED",
    "ACCEPTED_CHOICES",
    "CONSTRAINTS",
    "FINETUNE_ADAM_LR",
    "FINETUNE_SGD_DIVISOR",
    "LIBRARY_LICENCES",
    "NOT_SEARCHABLE",
    "REFINED",
    "REFINED_BASES",
    "REGIMES",
    "REGISTRY",
    "AtMost",
    "BuildContext",
    "Builder",
    "Built",
    "Interval",
    "SourceRunInputs",
    "Strategy",
    "SumAtMostOne",
    "build",
    "check_hyperparameters",
    "concrete_config",
    "constraint_problem",
    "discriminative_groups",
    "get",
    "layerwise_groups",
    "optimizer_step",
    "register",
    "resolve_config",
    "supply_inputs",
    "trainable_parameters",
    "value_problem",
]
