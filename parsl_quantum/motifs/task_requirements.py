"""What every motif's tasks ask of a pilot: one typed value shared by all the decorators.

A motif decorator (``quantum_app``, ``ensemble``, ``variational``, ``qml_training``, a ``pipeline``'s
quantum stage) takes the requirement keywords of the quantum executor (``qubits``, ``kinds``, ``pilot``,
``shots``, ``priority``, ``min_fidelity``, ``walltime``). Each is a value, or a function of a call's
arguments that returns the value (``qubits=lambda n: n``). :class:`TaskRequirements` holds them: it checks
the names once, against the executor's own :data:`~parsl_quantum.executors.requirements.REQUIREMENT_KEYS`,
checks the fixed values with the executor's own parser, and turns them into one call's
``parsl_resource_specification`` with :meth:`TaskRequirements.specification`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from parsl_quantum.executors.requirements import REQUIREMENT_KEYS, Requirements

Requirement = Any
"""A requirement: a value, or a function of a call's arguments returning the value."""


@dataclass(frozen=True)
class TaskRequirements:
    """The requirements of a motif's quantum tasks: each a value, a per-call function, or ``None`` (unset).

    Attributes
    ----------
    qubits, kinds, pilot, shots, priority, min_fidelity, walltime
        Each a value, a function of a call's arguments returning the value, or ``None`` (unset). Their
        meaning is that of the attributes of the executor's
        :class:`~parsl_quantum.executors.requirements.Requirements`; ``kinds`` may also be one kind.

    Raises
    ------
    parsl.executors.errors.InvalidResourceSpecification
        At construction, for a fixed value the executor would reject (the check of a function's value
        waits for the call).
    """

    qubits: Requirement = None
    kinds: Requirement = None
    pilot: Requirement = None
    shots: Requirement = None
    priority: Requirement = None
    min_fidelity: Requirement = None
    walltime: Requirement = None

    def __post_init__(self) -> None:
        Requirements.from_spec(self.fixed())  # the executor's own checks, once, for the fixed values

    @classmethod
    def from_mapping(cls, values: Mapping[str, Requirement], where: str) -> TaskRequirements:
        """The requirements named in ``values`` (``None`` values are unset).

        Parameters
        ----------
        values
            ``{name: value or function}``, e.g. a decorator's requirement keywords.
        where
            The decorated function, for messages (``"quantum app 'ghz'"``).

        Raises
        ------
        TypeError
            For a name that is not a requirement the quantum executor knows (the message lists them).
        """
        known = {f.name for f in fields(cls)} & REQUIREMENT_KEYS
        unknown = set(values) - known
        if unknown:
            raise TypeError(
                f"{where}: unknown requirement(s) {sorted(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def items(self) -> list[tuple[str, Requirement]]:
        """The requirements that are set, as ``(name, value or function)`` pairs."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def fixed(self) -> dict[str, Any]:
        """The requirements that are plain values (not functions)."""
        return {name: value for name, value in self.items() if not callable(value)}

    @property
    def has_functions(self) -> bool:
        """Whether some requirement is a function of the call's arguments."""
        return any(callable(value) for _, value in self.items())

    def specification(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        override: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``parsl_resource_specification`` of one call.

        Parameters
        ----------
        args, kwargs
            The call's arguments (values, not futures), given to the requirement functions; a function
            that returns ``None`` leaves its requirement unset for that call.
        override
            Requirements given with the call; they win over the decorator's.
        """
        kwargs = dict(kwargs or {})
        spec = {name: (value(*args, **kwargs) if callable(value) else value) for name, value in self.items()}
        spec = {name: value for name, value in spec.items() if value is not None}  # a function may unset
        spec.update(override or {})
        return spec

    def replace(self, **values: Requirement) -> TaskRequirements:
        """A copy with some requirements set to other values (``None`` unsets)."""
        return type(self)(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **values})


def requirement_key(spec: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable key of a resource specification: equal keys mean equal requirements.

    Lists and sets (``kinds``) compare by their members, in any order.
    """

    def freeze(value: Any) -> Any:
        if isinstance(value, (list, tuple, set, frozenset)):
            return tuple(sorted(map(freeze, value), key=repr))
        if isinstance(value, Mapping):
            return tuple(sorted((k, freeze(v)) for k, v in value.items()))
        return value

    return tuple(sorted((name, freeze(value)) for name, value in spec.items()))
