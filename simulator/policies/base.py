"""The policy interface, the read-only view policies decide from, and the registry of policies by name.

A policy is a plug-in in the scikit-learn style: ``__init__`` stores keyword parameters and nothing else, so
``get_params()`` can be read off the signature and every result records a policy's exact hyperparameters.
``bind(view, rng)`` attaches the run's context; ``assign`` places one ready task (immediate mode) and
``assign_batch`` places all pending tasks at once (batch mode).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from simulator.errors import UnknownPolicyError

IMMEDIATE = "immediate"
BATCH = "batch"
MODES = (IMMEDIATE, BATCH)


class TaskView(Protocol):
    """What a policy may read of a task waiting for placement."""

    @property
    def job_id(self) -> int: ...
    @property
    def application(self) -> str: ...
    @property
    def stage_name(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def priority(self) -> float: ...
    @property
    def deadline_s(self) -> float: ...
    @property
    def arrival_s(self) -> float: ...
    @property
    def stage_index(self) -> int: ...


@dataclass(frozen=True, eq=False)
class StageGraph:
    """The DAG of a task's application, for policies that plan a whole job (HEFT).

    ``exec_s[stage, node]`` is the expected execution time (inf where the stage cannot run);
    ``predecessors[stage]`` lists stage indices; ``output_bytes[stage]`` is what the stage sends on.
    """

    names: tuple[str, ...]
    predecessors: tuple[tuple[int, ...], ...]
    output_bytes: tuple[float, ...]
    exec_s: np.ndarray


class SystemView(Protocol):
    """Read-only view of the system at decision time: no access to the simulator's internals.

    Node indices run from 0 to ``n_nodes - 1``. Loads count every task assigned to a node and not yet
    finished (in transfer, queued or running), so decisions taken in a row see each other.
    """

    @property
    def now(self) -> float: ...
    @property
    def n_nodes(self) -> int: ...
    @property
    def node_names(self) -> Sequence[str]: ...
    @property
    def node_kinds(self) -> Sequence[str]: ...
    def slots(self, node: int) -> int: ...
    def power_w(self, node: int) -> tuple[float, float]: ...
    def capacity(self, node: int) -> float: ...
    def load(self, node: int) -> int: ...
    def expected_ready_time_s(self, node: int) -> float: ...
    def eligible_nodes(self, task: TaskView) -> Sequence[int]: ...
    def exec_estimate_s(self, task: TaskView, node: int) -> float: ...
    def transfer_estimate_s(self, task: TaskView, node: int) -> float: ...
    def stage_graph(self, task: TaskView) -> StageGraph: ...
    def edge_estimate_s(self, source_node: int, target_node: int, n_bytes: float) -> float: ...
    def input_estimate_s(self, task: TaskView, stage_index: int, node: int) -> float: ...


class Policy:
    """Base class of allocation policies.

    Subclasses set ``modes`` (which dispatch modes they support) and ``stochastic`` (whether their
    decisions depend on the random stream), implement ``assign`` and, for batch mode, ``assign_batch``.
    """

    name: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = (IMMEDIATE,)
    stochastic: ClassVar[bool] = False

    view_: SystemView
    rng_: np.random.Generator

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword parameters of ``__init__``, which are the policy's hyperparameters."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self" and p.kind is p.KEYWORD_ONLY]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)
        return {name: signature.parameters[name].default for name in cls.param_names()}

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def bind(self, view: SystemView, rng: np.random.Generator) -> None:
        """Attach the run's view and this policy's own random stream; resets any state of a previous run."""
        self.view_ = view
        self.rng_ = rng

    def assign(self, task: TaskView) -> int:
        """Return the node index for one ready task (immediate mode)."""
        raise NotImplementedError(f"policy {self.name!r} does not support immediate mode")

    def assign_batch(self, tasks: Sequence[TaskView]) -> list[int]:
        """Return a node index per pending task (batch mode); default: place them one by one, in order."""
        return [self.assign(task) for task in tasks]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


PolicyClass = TypeVar("PolicyClass", bound=type[Policy])

POLICIES: dict[str, type[Policy]] = {}


def register_policy(name: str) -> Callable[[PolicyClass], PolicyClass]:
    """Class decorator adding a policy to the registry under the name scenario files use."""

    def decorate(cls: PolicyClass) -> PolicyClass:
        if name in POLICIES:
            raise ValueError(f"policy name {name!r} registered twice")
        cls.name = name
        POLICIES[name] = cls
        return cls

    return decorate


def policy_class(name: str) -> type[Policy]:
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(sorted(POLICIES))
        raise UnknownPolicyError([f"unknown policy {name!r}; known policies: {known}"]) from None


def check_policy_params(name: str, params: dict[str, Any]) -> list[str]:
    """Problems with ``params`` for policy ``name`` (unknown names, values the constructor rejects)."""
    cls = policy_class(name)
    allowed = cls.param_names()
    problems = [
        f"unknown parameter {key!r} for policy {name!r}; allowed: {', '.join(allowed) or '(none)'}"
        for key in params
        if key not in allowed
    ]
    if not problems:
        try:
            cls(**params)
        except (TypeError, ValueError) as error:
            problems.append(f"policy {name!r}: {error}")
    return problems


def make_policy(name: str, params: dict[str, Any] | None = None) -> Policy:
    """Instantiate a registered policy, with a clear error for unknown names or parameters."""
    params = dict(params or {})
    problems = check_policy_params(name, params)
    if problems:
        raise UnknownPolicyError(problems)
    return policy_class(name)(**params)


def pick_min(
    candidates: Sequence[int], score: Callable[[int], float], tie_break: str, rng: np.random.Generator
) -> int:
    """The candidate with the smallest score; ties go to the lowest index or to a uniformly random one."""
    scores = [score(node) for node in candidates]
    best_score = min(scores)
    tied = [node for node, value in zip(candidates, scores, strict=True) if value <= best_score]
    if tie_break == "random" and len(tied) > 1:
        return tied[int(rng.integers(len(tied)))]
    return tied[0]


TIE_BREAKS = ("lowest_index", "random")


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
