"""Serve any database: reflect its schema and map it for the engine (``twistd restless``).

See ``docs/reflection.md`` for the naming rules and what is skipped.
"""

from ._mapping import REFLECTED, ReflectedModels, build_models
from ._naming import NAMINGS, snake
from ._plan import Choice, Plan, plan
from ._reflect import ReflectionError, reflect_models, reflect_now

__all__ = [
    "NAMINGS",
    "REFLECTED",
    "Choice",
    "Plan",
    "ReflectedModels",
    "ReflectionError",
    "build_models",
    "plan",
    "reflect_models",
    "reflect_now",
    "snake",
]
