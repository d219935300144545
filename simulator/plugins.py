"""One registry mechanism for every plug-in family (policies, solvers), open to the user's own code.

A plug-in is a class in scikit-learn's style: ``__init__`` stores keyword parameters under the same names and
does nothing else, so :meth:`Plugin.get_params` is read off the signature; :meth:`Plugin.check_params` says
what is wrong with the values, raising :class:`ParameterError` (through :func:`check_choice` and
:func:`check_number`: one validation style for every family).

A `Registry` finds a plug-in class by, in this order:

* a name registered with its decorator (the built-ins);
* the name of an entry point in the family's group (``allocsim.policies``, ``allocsim.solvers``), as pytest
  finds its plugins: an installed package declares ``[project.entry-points."allocsim.policies"]``;
* a name with a colon: ``module:Class`` (an importable module), or ``path/to/file.py:Class`` (a file,
  relative to ``base_dir``: the directory of the scenario or experiment file that names it; the working
  directory by default).

A class found from a file is named by its absolute path (``/home/me/my_policies.py:Stubborn``): that string
alone finds it again in any process (a ``spawn`` worker, a Dask worker), so a run's configuration is all a
worker needs. A bad name (no such file, module or class, an import error in the user's module, a class of the
wrong family) raises the family's error with one line saying what is wrong, never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import math
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np

from simulator.errors import UserInputError

__all__ = ["ParameterError", "Plugin", "PluginRunError", "Registry", "check_choice", "check_number"]


class ParameterError(UserInputError, ValueError):
    """A plug-in parameter is unknown or has a value outside its allowed range."""

    def __init__(self, *problems: str) -> None:
        super().__init__(problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class PluginRunError(UserInputError):
    """User plug-in code raised while a simulation ran; the message says which plug-in, what and where."""


class Plugin:
    """Base class of plug-ins: keyword parameters read off ``__init__``, one way to validate them.

    Attributes:
        name: The name the registry found the class under (set by the registry).
    """

    name: ClassVar[str] = ""

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword parameters of ``__init__`` (the plug-in's hyperparameters), in order."""
        return [parameter.name for parameter in _keyword_parameters(cls)]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Each parameter's default value (``inspect.Parameter.empty`` where it has none)."""
        return {parameter.name: parameter.default for parameter in _keyword_parameters(cls)}

    @classmethod
    def required_params(cls) -> list[str]:
        """Parameters without a default: a plug-in with any cannot be used by its name alone (a trained
        policy's agent file)."""
        return [name for name, default in cls.default_params().items() if default is inspect.Parameter.empty]

    def get_params(self) -> dict[str, Any]:
        """The parameters this plug-in was constructed with, read off the ``__init__`` signature."""
        return {name: getattr(self, name) for name in self.param_names()}

    def check_params(self) -> None:
        """Raise `ParameterError` naming the first bad parameter; the default accepts everything."""

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({arguments})"


def _keyword_parameters(cls: type[Plugin]) -> list[inspect.Parameter]:
    signature = inspect.signature(cls.__init__)
    return [parameter for parameter in list(signature.parameters.values())[1:]
            if parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]


def check_choice(plugin: Plugin, name: str, allowed: Sequence[Any]) -> None:
    """Raise `ParameterError` unless parameter ``name`` of ``plugin`` is one of ``allowed``."""
    value = getattr(plugin, name)
    # 1 == True in Python: a flag accepts only booleans, and a choice of strings or numbers no boolean
    same_kind = isinstance(value, bool) == any(isinstance(option, bool) for option in allowed)
    if not same_kind or value not in allowed:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def check_number(plugin: Plugin, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 integer: bool = False, allow_none: bool = False, exclusive_minimum: bool = False) -> None:
    """Raise `ParameterError` unless parameter ``name`` of ``plugin`` is a finite number (an integer when
    ``integer``) within the bounds, or None when ``allow_none``."""
    value = getattr(plugin, name)
    if value is None and allow_none:
        return
    ok = isinstance(value, int | np.integer) if integer else isinstance(value, int | float | np.number)
    ok = ok and not isinstance(value, bool | np.bool_)
    if ok and isinstance(value, float | np.floating):
        ok = math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        bounds = [f"{'>' if exclusive_minimum else '>='} {minimum}"] if minimum is not None else []
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        kind = "an integer" if integer else "a number"
        within = " " + " and ".join(bounds) if bounds else ""
        raise ParameterError(f"{name} must be {kind}{within}{' or None' if allow_none else ''}, got {value!r}")


PluginType = TypeVar("PluginType", bound=Plugin)
ClassType = TypeVar("ClassType", bound=type[Plugin])


class Registry(Generic[PluginType]):
    """The plug-ins of one family, by name (see the module docstring for how names are found).

    Args:
        kind: What one plug-in is called in messages ("policy", "solver").
        plural: The plural for messages ("policies").
        base: The family's base class; every plug-in is a subclass.
        group: The entry-point group where installed packages declare plug-ins.
        unknown_error: The exception raised, with a list of problems, for a name that finds nothing.
        adapt: Turns a class of another family into one of this family (a solver into a batch policy), or
            returns None when it cannot.
        adapted_groups: Entry-point groups of other families whose plug-ins are also names here, adapted
            (every solver is a batch policy).
    """

    def __init__(self, kind: str, plural: str, base: type[PluginType], group: str,
                 unknown_error: type[UserInputError],
                 adapt: Callable[[type], type[PluginType] | None] | None = None,
                 adapted_groups: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.plural = plural
        self.base = base
        self.group = group
        self.unknown_error = unknown_error
        self.adapt = adapt
        self.adapted_groups = adapted_groups
        self.registered: dict[str, type[PluginType]] = {}
        """The classes registered with `register`, by name (the built-ins, filled at import)."""
        self._found: dict[str, type[PluginType]] = {}  # entry points and import paths already loaded
        self._sources: dict[str, type[PluginType]] = {}  # source file of a class found outside the package

    def register(self, name: str) -> Callable[[ClassType], ClassType]:
        """Class decorator adding a plug-in under ``name`` (lower case, underscores).

        Raises:
            ValueError: If another class is already registered under ``name``.
            TypeError: If the class is not of this family.
        """

        def decorate(cls: ClassType) -> ClassType:
            self.add(name, cast("type[PluginType]", cls))
            return cls

        return decorate

    def add(self, name: str, cls: type[PluginType]) -> None:
        """Register ``cls`` under ``name`` (what the decorator does)."""
        if not issubclass(cls, self.base):
            raise TypeError(f"{cls.__qualname__} is not a subclass of {self.base.__qualname__}")
        existing = self.registered.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:  # a reloaded module may re-add
            raise ValueError(f"{self.kind} name {name!r} is already registered to {existing.__qualname__}")
        cls.name = name
        self.registered[name] = cls

    def entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        """The entry points of this family's group (and adapted groups) in the installed distributions, by
        name, not loaded; the family's own group wins a name both declare."""
        found: dict[str, importlib.metadata.EntryPoint] = {}
        for group in (*reversed(self.adapted_groups), self.group):
            found.update((entry.name, entry) for entry in importlib.metadata.entry_points(group=group))
        return found

    def names(self) -> list[str]:
        """Every name `lookup` knows without an import path: registered ones and entry points, sorted."""
        return sorted({*self.registered, *self.entry_points()})

    def lookup(self, name: str, *, base_dir: str | Path | None = None) -> type[PluginType]:
        """The class ``name`` stands for; ``base_dir`` anchors a relative ``file.py:Class`` path.

        Raises:
            The registry's ``unknown_error``: one line saying what is wrong with ``name``.
        """
        if name in self.registered:
            return self.registered[name]
        if name in self._found:
            return self._found[name]
        module_part, colon, attribute = name.rpartition(":")
        if not colon:  # a plain name: an entry point (the scan of installed packages is left for these)
            entry = self.entry_points().get(name)
            if entry is not None:
                return self._remember(name, self._load_entry_point(entry))
        if not module_part or not attribute:
            known = ", ".join(self.names())
            raise self.unknown_error([f"unknown {self.kind} {name!r}; known {self.plural}: {known}; or name your "
                                      "own class as module:Class or path/to/file.py:Class"])
        if _is_path(module_part):
            path = Path(module_part).expanduser()
            path = (Path(base_dir) / path if base_dir is not None else path).resolve()
            canonical = f"{path}:{attribute}"
            if canonical not in self._found:
                self._remember(canonical, self._from_module(name, attribute, _module_from_file(path), str(path)))
            return self._found[canonical]
        return self._remember(name, self._from_module(name, attribute, self._import(name, module_part),
                                                      module_part))

    def _remember(self, name: str, cls: type[PluginType]) -> type[PluginType]:
        if cls not in self.registered.values() and cls not in self._found.values():  # first name found stays
            cls.name = name
        self._found[name] = cls
        return cls

    def _fail(self, name: str, problem: str) -> UserInputError:
        return self.unknown_error([f"{self.kind} {name!r}: {problem}"])

    def _load_entry_point(self, entry: importlib.metadata.EntryPoint) -> type[PluginType]:
        origin = f"entry point {entry.name} = {entry.value} (group {entry.group})"
        try:
            loaded = entry.load()
        except Exception as error:
            raise self._fail(entry.name, f"cannot load {origin}: {_describe(error)}") from None
        return self._check_family(entry.name, loaded, origin)

    def _import(self, name: str, module_name: str) -> Any:
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and (module_name + ".").startswith(error.name + "."):
                raise self._fail(name, f"no module named {error.name!r} (is its directory on PYTHONPATH?)") from None
            raise self._fail(name, f"importing {module_name} failed: {_describe(error)}") from None
        except Exception as error:
            raise self._fail(name, f"importing {module_name} failed: {_describe(error)}") from None

    def _from_module(self, name: str, attribute: str, module: Any, origin: str) -> type[PluginType]:
        if isinstance(module, _ImportFailure):
            raise self._fail(name, module.problem)
        value = module
        for part in attribute.split("."):
            value = getattr(value, part, None)
            if value is None:
                defined = sorted(key for key, item in vars(module).items()
                                 if inspect.isclass(item) and item.__module__ == module.__name__)
                raise self._fail(name, f"{origin} has no class {attribute!r}; it defines: "
                                       f"{', '.join(defined) or 'no classes'}")
        return self._check_family(name, value, origin)

    def _check_family(self, name: str, value: Any, origin: str) -> type[PluginType]:
        found: type[PluginType] | None = None
        if inspect.isclass(value) and issubclass(value, self.base):
            found = value
        elif self.adapt is not None and inspect.isclass(value):
            found = self.adapt(value)
        if found is not None:
            source = inspect.getsourcefile(value)
            if source is not None and _PACKAGE not in Path(source).resolve().parents:
                self._sources[str(Path(source).resolve())] = found
            return found
        # the object is named by its kind, never by its repr (sys:modules would print every module)
        what = f"{'class' if inspect.isclass(value) else type(value).__name__} {getattr(value, '__qualname__', '')}"
        raise self._fail(name, f"{origin} gives {what.strip()}, which is not a subclass of "
                               f"{self.base.__module__}.{self.base.__qualname__}")

    def problems(self, name: str, params: dict[str, Any], *, base_dir: str | Path | None = None) -> list[str]:
        """What is wrong with ``params`` for plug-in ``name`` (unknown names, values it rejects); [] if none.

        Raises:
            The registry's ``unknown_error``: if ``name`` finds no plug-in.
        """
        return self._build(name, params, base_dir)[1]

    def create(self, name: str, params: dict[str, Any] | None = None, *,
               base_dir: str | Path | None = None) -> PluginType:
        """A plug-in ``name`` constructed with ``params``, its values checked.

        Raises:
            The registry's ``unknown_error``: if ``name`` finds no plug-in.
            ParameterError: Naming every unknown parameter and the allowed ones, or the bad value.
        """
        plugin, problems = self._build(name, dict(params or {}), base_dir)
        if plugin is None:
            raise ParameterError(*problems)
        return plugin

    def _build(self, name: str, params: dict[str, Any], base_dir: str | Path | None
               ) -> tuple[PluginType | None, list[str]]:
        cls = self.lookup(name, base_dir=base_dir)
        allowed = cls.param_names()
        unknown = [key for key in params if key not in allowed]
        if unknown:
            return None, [f"unknown parameter {key!r} for {self.kind} {name!r}; allowed: "
                          f"{', '.join(allowed) or 'none'}" for key in unknown]
        missing = [key for key in cls.required_params() if key not in params]
        if missing:
            return None, [f"{self.kind} {name!r} needs parameter {key!r} (it has no default)" for key in missing]
        try:
            plugin = cls(**params)
            plugin.check_params()
        except ParameterError as error:
            return None, [f"{self.kind} {name!r}: {problem}" for problem in error.problems]
        except (TypeError, ValueError) as error:
            return None, [f"{self.kind} {name!r}: {error}"]
        except Exception as error:  # user code raising anything else while it stores its parameters
            return None, [f"{self.kind} {name!r}: constructing it raised {_describe(error)}"]
        return plugin, []

    def failure(self, error: BaseException) -> PluginRunError | None:
        """A `PluginRunError` saying which plug-in raised ``error``, what and where, when it was raised inside
        the source file of a plug-in this registry found outside the package (user code failing at run time);
        None otherwise (a bug of ours keeps its traceback)."""
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            cls = self._sources.get(str(Path(frame.filename).resolve()))
            if cls is not None:
                return PluginRunError([f"{self.kind} {cls.name!r} raised {type(error).__name__}: {error} "
                                       f"({frame.filename}, line {frame.lineno}, in {frame.name})"])
        return None


_PACKAGE = Path(__file__).resolve().parent
"""The simulator package: an exception raised in its code is a bug of ours, not a plug-in's failure."""


def _is_path(module_part: str) -> bool:
    """``file.py``, ``dir/file.py``, ``~/x.py``, ``C:\\x.py``: a file, not a dotted module name."""
    return module_part.endswith(".py") or "/" in module_part or "\\" in module_part


class _ImportFailure:
    """Why a file could not be loaded as a module (kept so the caller can say it with the plug-in's name)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _module_from_file(path: Path) -> Any:
    """The module defined by ``path``, loaded once per process under a name made from the path (so that its
    classes pickle by reference in this process)."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"allocsim_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if not path.is_file():
        return _ImportFailure(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return _ImportFailure(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        return _ImportFailure(f"importing {path} failed: {_describe(error)}")
    return module


def _describe(error: BaseException) -> str:
    """``Type: message (file, line N)`` of the innermost frame: enough to find the mistake, no traceback."""
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" ({error.filename}, line {error.lineno})"
    elif error.__traceback__ is not None:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f" ({frame.filename}, line {frame.lineno})"
    message = error.msg if isinstance(error, SyntaxError) else str(error)
    return f"{type(error).__name__}: {message}{where}"

