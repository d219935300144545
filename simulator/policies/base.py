"""The policy interface, the read-only view policies decide from, and the registry of policies by name.

A policy is a plug-in in the scikit-learn style (`simulator.plugins`): ``__init__`` stores keyword parameters
and nothing else, so ``get_params()`` can be read off the signature and every result records a policy's exact
hyperparameters; ``check_params()`` validates them.
``bind(view, rng)`` attaches the run's context; ``assign`` places one ready task (immediate mode) and
``assign_batch`` places all pending tasks at once (batch mode).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from simulator.errors import UnknownPolicyError
from simulator.plugins import Plugin, Registry

if TYPE_CHECKING:
    from simulator.config import Scenario, VariantSpec

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
    finished (in transfer, queued or running), so decisions taken in a row see each other. Free slots and free
    memory (bytes; a node's memory may be inf) are what no running task, resident model or task waiting at the
    node holds or claims; ``demand(task)`` is the (slots, memory bytes) a task holds while it runs.
    ``eligible_nodes(task)`` are the nodes the task may be placed on now: in a run with failures, only nodes that
    are up and that its inputs can reach over links that are up (``is_up(node)`` says whether a node is up).

    ``queue_length(node)`` counts the tasks waiting at a node, not started. ``work_left_s(node)`` is the service
    (seconds, not divided by slots) the tasks assigned to a node and not finished still need: exact when
    ``sizes_known`` (``[policy] clairvoyant``, `simulator.sizes`), expected otherwise. When sizes are known,
    ``known_service_s(task, node)`` is the task's actual service time on a node and ``task_size_s(task)`` its size
    as a duration on a node of speed 1; both are NaN otherwise.

    ``variants(task)`` lists the model variants of the task's stage (model and stated accuracy; empty for a stage
    with one model, `simulator.variants`) and ``variant_exec_estimate_s(task, variant, node)`` the expected service
    time of one of them on a node (inf where it cannot run); ``exec_estimate_s`` gives that of the variant the
    scenario's rule prefers on the node.
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
    def memory_bytes(self, node: int) -> float: ...
    def free_slots(self, node: int) -> int: ...
    def free_memory_bytes(self, node: int) -> float: ...
    def demand(self, task: TaskView) -> tuple[int, float]: ...
    def expected_ready_time_s(self, node: int) -> float: ...
    def queue_length(self, node: int) -> int: ...
    def work_left_s(self, node: int) -> float: ...
    def known_service_s(self, task: TaskView, node: int) -> float: ...
    def task_size_s(self, task: TaskView) -> float: ...
    @property
    def sizes_known(self) -> bool: ...
    def eligible_nodes(self, task: TaskView) -> Sequence[int]: ...
    def is_up(self, node: int) -> bool: ...
    def exec_estimate_s(self, task: TaskView, node: int) -> float: ...
    def transfer_estimate_s(self, task: TaskView, node: int) -> float: ...
    def stage_graph(self, task: TaskView) -> StageGraph: ...
    def edge_estimate_s(self, source_node: int, target_node: int, n_bytes: float) -> float: ...
    def input_estimate_s(self, task: TaskView, stage_index: int, node: int) -> float: ...
    def variants(self, task: TaskView) -> Sequence[VariantSpec]: ...
    def variant_exec_estimate_s(self, task: TaskView, variant: int, node: int) -> float: ...


class Policy(Plugin):
    """Base class of allocation policies.

    Subclasses set ``modes`` (which dispatch modes they support) and ``stochastic`` (whether their
    decisions depend on the random stream), implement ``assign`` and, for batch mode, ``assign_batch``;
    ``check_params`` validates parameter values (see `simulator.plugins`). ``path_params`` names parameters
    that are file paths: read relative to the file that names them and recorded as absolute paths, so a
    sweep's worker finds the same file from any directory.
    """

    modes: ClassVar[tuple[str, ...]] = (IMMEDIATE,)
    stochastic: ClassVar[bool] = False
    path_params: ClassVar[tuple[str, ...]] = ()

    view_: SystemView
    rng_: np.random.Generator

    def prepare(self, scenario: Scenario) -> None:
        """Check that the policy fits ``scenario`` and build what depends on its structure, once per run before
        `bind` (a trained agent checks its observation layout); raise `UserInputError` naming what does not
        fit. The default needs nothing from the scenario."""

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

    def choose_variant(self, task: TaskView, node: int) -> int | None:
        """The model variant (an index into ``view_.variants(task)``) of a task of a stage with variants, once it is
        placed on ``node``; asked only in a run with variants (`simulator.variants`). None, the default, leaves it
        to the scenario's rule (``[policy] variant``); a policy that weighs accuracy against time itself returns an
        index of a variant that runs on the node (finite ``view_.variant_exec_estimate_s``)."""
        return None


def _solver_as_batch_policy(cls: type) -> type[Policy] | None:
    """A static solver named where a policy is expected becomes the batch policy that maps with it."""
    from simulator.policies.batch import solver_policy
    from simulator.solvers import Solver

    return solver_policy(cls) if issubclass(cls, Solver) else None


POLICY_REGISTRY: Registry[Policy] = Registry("policy", "policies", Policy, "allocsim.policies", UnknownPolicyError,
                                             adapt=_solver_as_batch_policy, adapted_groups=("allocsim.solvers",))
"""Every policy: the built-ins, entry points of group ``allocsim.policies``, ``module:Class``, ``file.py:Class``;
a solver (entry points of ``allocsim.solvers`` too) becomes the batch policy that maps with it."""

POLICIES = POLICY_REGISTRY.registered
"""The built-in policies by name (`policy_names` adds those installed packages declare)."""

register_policy = POLICY_REGISTRY.register


def policy_names() -> list[str]:
    """Names of the built-in policies and of those installed packages declare by entry point, sorted."""
    return POLICY_REGISTRY.names()


def policy_class(name: str, *, base_dir: str | Path | None = None) -> type[Policy]:
    """The policy class ``name`` stands for; ``base_dir`` anchors a relative ``path/file.py:Class``.

    The class's ``name`` is what finds it again from any directory and process (an absolute path for a file).

    Raises:
        UnknownPolicyError: Listing the known names, or saying why a ``module:Class`` name cannot be loaded.
    """
    return POLICY_REGISTRY.lookup(name, base_dir=base_dir)


def check_policy_params(name: str, params: dict[str, Any], *, base_dir: str | Path | None = None) -> list[str]:
    """Problems with ``params`` for policy ``name`` (unknown names, values the policy rejects)."""
    return POLICY_REGISTRY.problems(name, params, base_dir=base_dir)


def make_policy(name: str, params: dict[str, Any] | None = None, *, base_dir: str | Path | None = None) -> Policy:
    """Instantiate a policy by name, with a clear error for unknown names or parameters.

    Raises:
        UnknownPolicyError: If ``name`` finds no policy.
        ParameterError: If a parameter is unknown or its value is rejected.
    """
    return POLICY_REGISTRY.create(name, params, base_dir=base_dir)


def absolute_path_params(cls: type[Policy], params: dict[str, Any], base_dir: str | Path | None) -> dict[str, Any]:
    """``params`` with each of the policy's path parameters (``cls.path_params``) given as a string made
    absolute relative to ``base_dir`` (the directory of the file that names it; default: the working
    directory), so the recorded parameters find the same file in any process."""
    resolved = dict(params)
    for name in cls.path_params:
        value = resolved.get(name)
        if isinstance(value, str) and value:
            resolved[name] = str((Path(base_dir or ".") / Path(value).expanduser()).resolve())
    return resolved


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

