"""``--workload package.module:function``: a user's build function, found and called.

The module is imported from the current folder without ``PYTHONPATH``, as ``python -m``
users expect; Ray workers get it through the runtime environment (:func:`shipped_files`
names what to ship). A function handed over as an object (``dals_tune.search(workload=
build)``) is referred to by ``module:qualname`` too; one defined in the running script
(``__main__``) cannot be imported by a worker, so it is registered here by value
(:func:`register`) and Ray ships it with the trainable.

Everything that can go wrong on the user's side (no such module, no such function, it
raises, it returns something else) is a one-line ``ValueError`` naming the workload.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dals_tune.workloads.base import Workload
from dals_tune.workloads.config import WorkloadConfig
from dals_tune.workloads.custom import WorkloadDefinition

SCRIPT_MODULE = "__main__"
PATH_PREFIXES = ("csv", "lm")  # workload ids that take a path after the colon
_REGISTERED: dict[str, Callable[[WorkloadConfig], Any]] = {}


def is_user_workload(workload: str) -> bool:
    """``module:function``: dotted names on both sides of the colon (a built-in id has no
    colon; ``csv:PATH`` and ``lm:PATH`` name files)."""
    module, colon, function = workload.partition(":")
    return bool(colon) and module not in PATH_PREFIXES and _dotted(module) and _dotted(function)


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def reference(function: Callable[..., Any]) -> str:
    """The ``module:qualname`` a function object is found by; a script's own function is
    registered so that :func:`build_function` finds it in this process."""
    module = getattr(function, "__module__", None) or SCRIPT_MODULE
    qualname = getattr(function, "__qualname__", "")
    if not qualname or "<" in qualname:
        raise ValueError(
            "workload must be a named function (module level), not a lambda or a nested one"
        )
    if module != SCRIPT_MODULE:
        return f"{module}:{qualname}"
    # Named after the script, so the study's id and experiment say which; the script may be
    # imported under that name later (python -m dals_tune search --resume), so it should
    # start its study under ``if __name__ == "__main__":``.
    script = Path(getattr(sys.modules[SCRIPT_MODULE], "__file__", None) or "")
    name = f"{script.stem if script.stem.isidentifier() else SCRIPT_MODULE}:{qualname}"
    register(name, function)
    return name


def register(name: str, function: Callable[[WorkloadConfig], Any]) -> None:
    _REGISTERED[name] = function


def registered(workload: str) -> dict[str, Callable[[WorkloadConfig], Any]]:
    """``{workload: function}`` when ``workload`` is a function that lives in the running
    script only (to ship to the workers by value), else nothing."""
    return {workload: _REGISTERED[workload]} if workload in _REGISTERED else {}


def build_function(workload: str) -> Callable[[WorkloadConfig], Any]:
    """The user's function of ``module:function``, imported (the current folder first)."""
    if workload in _REGISTERED:
        return _REGISTERED[workload]
    module_name, _, qualname = workload.partition(":")
    module = _import(module_name, workload)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(
                f"--workload {workload}: module {module_name!r} ({_where(module)}) has no "
                f"function {qualname!r}"
            )
    if not callable(target):
        raise ValueError(f"--workload {workload}: {qualname!r} is not a function")
    return target


def build_user_workload(config: WorkloadConfig) -> Workload:
    """Call the user's function with the trial's settings and realise what it returns."""
    function = build_function(config.workload)
    try:
        definition = function(config)
    except ValueError as error:
        raise ValueError(f"--workload {config.workload}: {_first_line(error)}") from None
    except Exception as error:
        raise ValueError(
            f"--workload {config.workload}: the function raised {type(error).__name__}: "
            f"{_first_line(error)}"
        ) from None
    if not isinstance(definition, WorkloadDefinition):
        raise ValueError(
            f"--workload {config.workload}: the function returned "
            f"{type(definition).__name__}, not a workload; return dals_tune.workload(...)"
        )
    workload = definition.realise(config)
    _probe(workload, config.workload)
    return workload


def _probe(workload: Workload, name: str) -> None:
    """One forward pass and loss on two training examples: outputs that do not fit the
    targets (a wrong number of classes, a shape the loss cannot take) are refused here, in
    one line, instead of failing every trial deep inside autograd."""
    import torch

    inputs, targets = next(iter(workload.evaluation_batches("train", size=2)))
    model = workload.model
    model.eval()  # nothing changes: no BatchNorm statistics, no dropout draws
    try:
        with torch.no_grad():
            outputs = workload.forward(model, inputs)
            loss = workload.loss(outputs.float(), targets)
        if loss.numel() != 1:
            raise ValueError(f"the loss gave {tuple(loss.shape)} values, not one number")
    except Exception as error:
        raise ValueError(
            f"--workload {name}: the model's outputs do not fit the targets and the loss "
            f"({type(error).__name__}: {_first_line(error)})"
        ) from None
    finally:
        model.train()


def shipped_files(workload: str) -> list[str]:
    """What Ray must ship to its workers for ``workload`` (``runtime_env["py_modules"]``):
    the top-level package folder (or the module file) of a user module that is not
    installed; nothing for an installed one, a registered script function or a built-in."""
    if not is_user_workload(workload) or workload in _REGISTERED:
        return []
    top = workload.partition(":")[0].split(".")[0]
    module = _import(top, workload)
    path = Path(getattr(module, "__file__", "") or "")
    if not path.name:
        return []
    installed = {Path(sysconfig.get_path(kind)).resolve() for kind in ("purelib", "platlib")}
    if any(parent in installed for parent in path.resolve().parents):
        return []
    return [str(path.parent if path.name == "__init__.py" else path)]


def _import(module_name: str, workload: str) -> Any:
    folder = os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise ValueError(
                f"--workload {workload}: no module {module_name!r} in {folder} or on the "
                "Python path; run from the folder that holds it"
            ) from None
        raise ValueError(
            f"--workload {workload}: importing {module_name!r} failed: {_first_line(error)}"
        ) from None
    except Exception as error:
        raise ValueError(
            f"--workload {workload}: importing {module_name!r} failed: "
            f"{type(error).__name__}: {_first_line(error)}"
        ) from None


def _where(module: Any) -> str:
    return str(getattr(module, "__file__", None) or module.__name__)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
