"""Which layer each parameter belongs to, and how deep that layer sits (DESIGN §2).

Every strategy that treats layers differently (DALS's depth-aware filter and depth decay,
discriminative fine-tuning, LLRD) needs the same thing: the model's parameters grouped into
layers ordered from input to output, l = 0..L-1, with depth d_l = l / (L - 1) (0 at the input,
1 at the output; a single layer gets 0.5).

Grouping rules, first match wins:
1. a user mapping: a callable ``parameter name -> layer key`` or a list of module-name
   prefixes ordered from input to output;
2. Hugging Face transformers: everything before the first encoder block (embeddings) is
   layer 0, block i is layer i + 1, everything after the blocks (pooler, pre-classifier,
   classifier) is the last layer;
3. otherwise the model's top-level children in registration order. Children without
   parameters (activations, dropout, a head whose weight is tied to an earlier child's) are
   not layers, and a wrapper whose parameters all live in one child is looked through, so
   ``Wrapper(nn.Sequential(...))`` groups like the ``Sequential``. Parameters registered on
   the module itself come first, as a layer of their own;
4. within rule 3, a ``nn.ModuleList`` child is a stack of blocks (a GPT's or a ViT's), so
   each of its elements is a layer of its own (``h.0``, ``h.1``, ...). A model with such a
   stack is read as embeddings → blocks → head: the children before the first stack are one
   layer (named ``embeddings`` when there are several, like token and position embeddings),
   the children after the last stack are one last layer (``head`` when there are several,
   e.g. a final norm and an untied output projection), and a child between two stacks stays
   a layer of its own. A ``nn.ModuleDict`` child holding such a stack (nanoGPT's
   ``transformer``) is a namespace: its members count as children. Models without a
   ``ModuleList`` child are grouped by rule 3 alone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from torch import nn

LayerMapping = Callable[[str], Hashable] | Sequence[str]


@dataclass(frozen=True)
class Layer:
    """One layer: its position from the input, its name and its parameters."""

    index: int
    num_layers: int
    name: str
    parameter_names: tuple[str, ...]
    parameters: tuple[nn.Parameter, ...]

    @property
    def depth(self) -> float:
        return depth_of(self.index, self.num_layers)

    @property
    def layers_above(self) -> int:
        """L - 1 - l: the exponent of the depth decay δ^(L-1-l)."""
        return self.num_layers - 1 - self.index


def depth_of(index: int, num_layers: int) -> float:
    """d_l = l / (L - 1); a model with a single layer gets 0.5."""
    if num_layers <= 1:
        return 0.5
    return index / (num_layers - 1)


def layers_of(model: nn.Module, mapping: LayerMapping | None = None) -> list[Layer]:
    """Group ``model``'s parameters into layers ordered from input to output."""
    named = list(model.named_parameters())
    if not named:
        raise ValueError(f"{type(model).__name__} has no parameters to group into layers")
    if mapping is None:
        keys = _default_keys(model, named)
    elif callable(mapping):
        keys = [mapping(name) for name, _ in named]
    else:
        keys = _prefix_keys(named, list(mapping))
    return _assemble(named, keys)


def depth_param_groups(
    model: nn.Module, mapping: LayerMapping | None = None, **group_options: object
) -> list[dict]:
    """torch param groups, one per layer, carrying ``depth``, ``layer_index``, ``layers_above``
    and ``layer_name``. Frozen parameters are left out; a layer left empty is dropped, and the
    other layers keep their depths."""
    groups = []
    for layer in layers_of(model, mapping):
        trainable = [p for p in layer.parameters if p.requires_grad]
        if not trainable:
            continue
        groups.append(
            {
                "params": trainable,
                "layer_name": layer.name,
                "layer_index": layer.index,
                "layers_above": layer.layers_above,
                "depth": layer.depth,
                **group_options,
            }
        )
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return groups


def _assemble(named: list[tuple[str, nn.Parameter]], keys: list[Hashable]) -> list[Layer]:
    """Built-in rules give (rank, name) keys; a user callable may give ints (sorted) or any
    other keys (ordered by first appearance)."""
    order: list[Hashable] = list(dict.fromkeys(keys))
    if all(isinstance(key, int) for key in order) or all(isinstance(k, tuple) for k in order):
        order.sort()
    members: dict[Hashable, list[tuple[str, nn.Parameter]]] = {key: [] for key in order}
    for (name, parameter), key in zip(named, keys):
        members[key].append((name, parameter))
    return [
        Layer(
            index=index,
            num_layers=len(order),
            name=key[1] if isinstance(key, tuple) else str(key),
            parameter_names=tuple(name for name, _ in members[key]),
            parameters=tuple(parameter for _, parameter in members[key]),
        )
        for index, key in enumerate(order)
    ]


def _prefix_keys(
    named: list[tuple[str, nn.Parameter]], prefixes: list[str]
) -> list[tuple[int, str]]:
    if not prefixes:
        raise ValueError("the layer mapping is an empty list of module-name prefixes")
    keys = []
    for name, _ in named:
        matches = [p for p in prefixes if name == p or name.startswith(p.rstrip(".") + ".")]
        if not matches:
            raise ValueError(
                f"parameter {name!r} matches none of the layer prefixes {prefixes}; "
                "add a prefix for it"
            )
        keys.append(max(matches, key=len))
    # Order follows the user's list, not the order parameters were registered in.
    rank = {prefix: i for i, prefix in enumerate(prefixes)}
    return [(rank[key], key) for key in keys]


def _default_keys(model: nn.Module, named: list[tuple[str, nn.Parameter]]) -> list[Hashable]:
    if _is_transformers_model(model):
        blocks = _encoder_blocks(model)
        if blocks is not None:
            return _transformer_keys(named, *blocks)
    prefix = _unwrapped_prefix(model)
    module = model.get_submodule(prefix) if prefix else model
    head = f"{prefix}." if prefix else ""
    layer_of = _child_layers(module, head)
    # Own parameters (a class token, a learned scale) sit at the input end: rank -1.
    keys: list[Hashable] = []
    for name, _ in named:
        local = name[len(head) :] if name.startswith(head) else name
        key = None
        for (child, element), layer in layer_of.items():
            if local.startswith(f"{child}.{element}." if element else f"{child}."):
                key = layer
                break
        keys.append(key if key is not None else (-1, "(own parameters)"))
    return keys


def _child_layers(module: nn.Module, head: str) -> dict[tuple[str, str | None], tuple[int, str]]:
    """``(child, element or None) -> (rank, layer name)`` for the children that own
    parameters; ``element`` is set for the members of a ``ModuleList`` child (rule 4)."""
    children = _owning_children(module, _stack_namespaces(module))
    stacks = [i for i, (_, child) in enumerate(children) if isinstance(child, nn.ModuleList)]
    if not stacks:
        return {(name, None): (rank, f"{head}{name}") for rank, (name, _) in enumerate(children)}
    slots: list[tuple[list[tuple[str, str | None]], str]] = []  # (members, layer name)

    def group(part: list[tuple[str, nn.Module]], several: str) -> None:
        if part:
            name = f"{head}{part[0][0]}" if len(part) == 1 else several
            slots.append(([(child, None) for child, _ in part], name))

    group(children[: stacks[0]], "embeddings")
    for name, child in children[stacks[0] : stacks[-1] + 1]:
        if isinstance(child, nn.ModuleList):
            for element, _ in _owning_children(child):
                slots.append(([(name, element)], f"{head}{name}.{element}"))
        else:
            slots.append(([(name, None)], f"{head}{name}"))
    group(children[stacks[-1] + 1 :], "head")
    return {
        member: (rank, name) for rank, (members, name) in enumerate(slots) for member in members
    }


def _stack_namespaces(module: nn.Module) -> set[str]:
    """Children that are ``ModuleDict`` namespaces around a stack of blocks, like nanoGPT's
    ``transformer`` next to an untied ``lm_head``: their members are read as the model's own
    children, so the embeddings, blocks and final norm inside them become layers."""
    return {
        name
        for name, child in module.named_children()
        if isinstance(child, nn.ModuleDict)
        and any(isinstance(member, nn.ModuleList) for member in child.children())
    }


def _unwrapped_prefix(model: nn.Module) -> str:
    """Descend through wrappers whose parameters all live in a single child."""
    prefix, module = "", model
    while not list(module.parameters(recurse=False)):
        holders = _owning_children(module)
        if len(holders) != 1:
            break
        name, module = holders[0]
        prefix = f"{prefix}.{name}" if prefix else name
    return prefix


def _owning_children(
    module: nn.Module, namespaces: set[str] = frozenset()
) -> list[tuple[str, nn.Module]]:
    """The children that own a parameter, in registration order, with the members of the
    ``namespaces`` children in their place (as ``namespace.member``). A parameter shared with
    an earlier child (a language model's output head tied to its token embedding) belongs to
    that earlier child, as in ``named_parameters``."""
    candidates = []
    for name, child in module.named_children():
        if name in namespaces:
            candidates.extend((f"{name}.{member}", m) for member, m in child.named_children())
        else:
            candidates.append((name, child))
    seen = {id(p) for p in module.parameters(recurse=False)}
    owners = []
    for name, child in candidates:
        fresh = [p for p in child.parameters() if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        if fresh:
            owners.append((name, child))
    return owners


def _is_transformers_model(model: nn.Module) -> bool:
    return any(cls.__module__.startswith("transformers.") for cls in type(model).__mro__)


def _encoder_blocks(model: nn.Module) -> tuple[str, int] | None:
    """The ModuleList holding the encoder blocks: the one with the most parameters."""
    best, best_size = None, 0
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = (name, len(module)), size
    return best


def _transformer_keys(
    named: list[tuple[str, nn.Parameter]], blocks_name: str, num_blocks: int
) -> list[tuple[int, str]]:
    keys, seen_block = [], False
    for name, _ in named:
        if name.startswith(blocks_name + "."):
            seen_block = True
            block = int(name[len(blocks_name) + 1 :].split(".", 1)[0])
            keys.append((block + 1, f"{blocks_name}.{block}"))
        elif seen_block:
            keys.append((num_blocks + 1, "head"))
        else:
            keys.append((0, "embeddings"))
    return keys
