"""The one registry of objectives: `register(name)`, `get(name)`, `available()`.

    @sslzoo.models.register("my_objective")
    @keras.saving.register_keras_serializable(package="my_package")
    class MyObjective(sslzoo.models.SSLModel):
        ...

The factory (`sslzoo.models.factory`), `sslzoo-train --objective=NAME`, the shared
test battery (tests/objective_harness.py) and the benchmarks all read it, so an
objective written outside the package trains everywhere once registered.
"""
_OBJECTIVES = {}


def register(name):
    """Class decorator: registers an `SSLModel` subclass under `name` (sets `cls.registered_name`).

    Raises:
      ValueError: `name` is not a non-empty string, is taken by another class, or
        the class is not an `SSLModel`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")

    def decorator(cls):
        from sslzoo.models.base import SSLModel

        if not (isinstance(cls, type) and issubclass(cls, SSLModel)):
            raise ValueError(f"register({name!r}) needs an SSLModel subclass, got {cls!r}")
        known = _OBJECTIVES.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"objective name {name!r} is already registered to {known.__qualname__}")
        _OBJECTIVES[name] = cls
        cls.registered_name = name
        return cls

    return decorator


def get(name):
    """The objective class registered as `name`.

    Raises:
      ValueError: unknown name (the message lists the registered ones).
    """
    if name not in _OBJECTIVES:
        raise ValueError(f"Unknown objective {name!r}; registered objectives: {', '.join(available())}")
    return _OBJECTIVES[name]


def available():
    """Sorted names of the registered objectives."""
    return sorted(_OBJECTIVES)
