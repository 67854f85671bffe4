"""`Recipe`: a complete, typed training configuration, and its JSON form.

    recipe = sslzoo.models.presets.get("simclr_cifar10")
    recipe.optimizer.base_learning_rate          # 0.4
    recipe.replace(epochs=100, batch_size=512)   # a new, checked Recipe
    Recipe.from_json(recipe.to_json()) == recipe # True

A recipe names the objective and its arguments, the backbone, the data, the
augmentation, the batch, the optimizer (`Optimizer`), the learning-rate schedule
(`Schedule`), the epochs, the evaluation and the `source` it follows (a paper's
table or an official file). Every field is checked when a recipe is made: an
unknown field or a value of the wrong type raises `RecipeError` (a `TypeError`
and a `ValueError`) naming the field and the type it expects.

Free-form fields (`objective_args`, `backbone`, `augment`, `evaluation`,
`text_encoder`, `audio_backbone`) hold JSON data (tuples become lists); the code
that consumes them (the objective's constructor, `sslzoo.backbones.get`,
`SimCLRAugment`/`MultiCrop`) checks their keys.

For code written against the earlier preset dicts a recipe, an `Optimizer` and a
`Schedule` are also read-only mappings: `recipe["epochs"]`, `recipe.get("eval_split")`,
`dict(recipe)` (fields whose value is None are absent).
"""
import copy
import dataclasses
import inspect
import json
import typing
from collections.abc import Mapping
from typing import Optional

from sslzoo import optimizers as optimizers_lib
from sslzoo.optimizers import schedules as schedules_lib


class RecipeError(TypeError, ValueError):
    """A recipe field that does not exist or holds a value of the wrong type."""


TASKS = ("image", "clip", "mmv")
AUGMENT_KINDS = ("simclr", "multicrop", "clip_affine")
SCHEDULE_KINDS = ("warmup_cosine",)
_JSON_SCALARS = (str, int, float, bool, type(None))


def _type_name(tp):
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        names = [_type_name(a) for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(names) + " or None"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if tp is float:
        return "number"
    if isinstance(tp, type) and issubclass(tp, _Record):
        return f"{tp.__name__} (object)"
    return {dict: "object", str: "string", int: "integer", bool: "bool"}.get(tp, getattr(tp, "__name__", str(tp)))


def _json_data(value, where):
    """`value` as plain JSON data (tuples -> lists), or RecipeError naming `where`."""
    if isinstance(value, float) and value != value:
        raise RecipeError(f"{where} must be JSON data, got NaN")
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RecipeError(f"{where} keys must be strings, got {key!r}")
            out[key] = _json_data(item, f"{where}.{key}")
        return out
    raise RecipeError(f"{where} must be JSON data (number, string, bool, list, object), "
                      f"got {value!r} ({type(value).__name__})")


def _coerce(where, tp, value, shown=None):
    """`value` checked against the annotation `tp` (and converted: int -> float, list -> tuple,
    dict -> record); RecipeError naming `where` and the expected type otherwise."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(where, inner, value, shown=tp)
    expected = _type_name(shown or tp)
    wrong = RecipeError(f"{where} must be {_article(expected)}, got {value!r} ({type(value).__name__})")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong
        (item,) = typing.get_args(tp)[:1]
        return tuple(_coerce(f"{where}[{i}]", item, v) for i, v in enumerate(value))
    if isinstance(tp, type) and issubclass(tp, _Record):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return tp.from_dict(value, where=where)
        raise wrong
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong
        return value
    if tp is dict:
        if not isinstance(value, Mapping):
            raise wrong
        return _json_data(value, where)
    raise TypeError(f"unsupported annotation {tp!r} for {where}")


def _article(text):
    return ("an " if text[0].lower() in "aeiou" else "a ") + text


class _Record(Mapping):
    """Shared behaviour of the recipe dataclasses: checking, mappings, dict/JSON forms."""

    # Keys `--show` adds to a block (derived values); reading a recipe drops them.
    derived_keys = ()

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = _coerce(f"{self._where()}{field.name}", hints[field.name], getattr(self, field.name))
            object.__setattr__(self, field.name, value)
        self._check()

    def _where(self):
        return getattr(self, "_prefix", "") or f"{type(self).__name__} field "

    def _check(self):
        """Cross-field checks of a subclass."""

    # -- mapping view (read-only), for code written against the preset dicts
    def __getitem__(self, key):
        if key in self._field_names() and getattr(self, key) is not None:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self):
        return (name for name in self._field_names() if getattr(self, name) is not None)

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, key):
        return key in self._field_names() and getattr(self, key) is not None

    @classmethod
    def _field_names(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    # -- dict and JSON forms
    def to_dict(self):
        """Plain JSON data: nested records as objects, tuples as lists, None fields left out."""
        out = {}
        for name in self._field_names():
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = value.to_dict() if isinstance(value, _Record) else _json_data(value, name)
        return out

    @classmethod
    def from_dict(cls, data, where=None):
        """A record from a mapping; unknown keys raise RecipeError naming them and the known fields."""
        if not isinstance(data, Mapping):
            raise RecipeError(f"{where or cls.__name__} must be an object, got {data!r} ({type(data).__name__})")
        names = cls._field_names()
        data = {k: v for k, v in data.items() if k not in cls.derived_keys}
        unknown = sorted(set(data) - set(names))
        if unknown:
            label = f"{where}" if where else cls.__name__
            raise RecipeError(f"{label} has no field {unknown[0]!r}; fields: {', '.join(names)}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in data and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            label = f"{where}" if where else cls.__name__
            raise RecipeError(f"{label} lacks required field {missing[0]!r}")
        record = cls.__new__(cls)
        if where:
            object.__setattr__(record, "_prefix", f"{where}.")
        for field in dataclasses.fields(cls):
            if field.name in data:
                value = data[field.name]
            elif field.default is not dataclasses.MISSING:
                value = field.default
            else:
                value = field.default_factory()
            object.__setattr__(record, field.name, value)
        record.__post_init__()
        return record

    def replace(self, **changes):
        """A new record with `changes` applied and checked (unknown names raise RecipeError)."""
        names = self._field_names()
        for key in changes:
            if key not in names:
                raise RecipeError(f"{type(self).__name__} has no field {key!r}; fields: {', '.join(names)}")
        data = {name: copy.deepcopy(getattr(self, name)) for name in names}
        data.update(copy.deepcopy(changes))
        return type(self).from_dict(data, where=getattr(self, "_prefix", "")[:-1] or None)


def _dataclass(cls):
    return dataclasses.dataclass(frozen=True, eq=True, kw_only=True)(cls)


@_dataclass
class Optimizer(_Record):
    """The optimizer and its peak learning rate before batch scaling.

    `name` is a key of `sslzoo.optimizers.OPTIMIZERS`; every other field set
    (not None) must be an argument of that optimizer. The peak learning rate is
    `base_learning_rate` scaled by the global batch (`scaling`: "linear" is
    `base * batch / 256`, "sqrt" is `base * sqrt(batch)`, None uses it as is).
    """

    name: str
    base_learning_rate: float
    scaling: Optional[str] = None
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    nesterov: Optional[bool] = None
    eta: Optional[float] = None
    clip_lr: Optional[bool] = None
    excluded_learning_rate_factor: Optional[float] = None
    beta_1: Optional[float] = None
    beta_2: Optional[float] = None
    epsilon: Optional[float] = None
    amsgrad: Optional[bool] = None
    clipnorm: Optional[float] = None

    derived_keys = ("global_batch", "peak_learning_rate")
    _NOT_ARGUMENTS = ("name", "base_learning_rate", "scaling")

    def _check(self):
        where = self._where()
        if self.name not in optimizers_lib.OPTIMIZERS:
            raise RecipeError(f"{where}name must be one of {sorted(optimizers_lib.OPTIMIZERS)}, got {self.name!r}")
        if self.scaling is not None and self.scaling not in schedules_lib.SCALINGS:
            raise RecipeError(f"{where}scaling must be one of {list(schedules_lib.SCALINGS)} or None, "
                              f"got {self.scaling!r}")
        if self.base_learning_rate < 0:
            raise RecipeError(f"{where}base_learning_rate must be >= 0, got {self.base_learning_rate!r}")
        accepted = self.accepted_arguments(self.name)
        for key in self.arguments():
            if key not in accepted:
                raise RecipeError(f"{where}{key} is not an argument of optimizer {self.name!r} "
                                  f"(its arguments: {', '.join(sorted(accepted))})")

    @staticmethod
    def accepted_arguments(name):
        """Argument names optimizer `name` takes besides `learning_rate` (its own and clipnorm)."""
        parameters = inspect.signature(optimizers_lib.OPTIMIZERS[name].__init__).parameters
        return {key for key in parameters if key not in ("self", "learning_rate", "name", "kwargs")} | {"clipnorm"}

    def arguments(self):
        """Keyword arguments for `sslzoo.optimizers.get(name, schedule, **arguments)`."""
        return {name: getattr(self, name) for name in self._field_names()
                if name not in self._NOT_ARGUMENTS and getattr(self, name) is not None}

    def peak_learning_rate(self, global_batch):
        """The base learning rate scaled for `global_batch`."""
        if self.scaling is None:
            return self.base_learning_rate
        return optimizers_lib.scaled_learning_rate(self.base_learning_rate, int(global_batch), self.scaling)


@_dataclass
class Schedule(_Record):
    """The learning rate over training: linear warmup from 0 over `warmup_epochs`,
    then a half cosine to `end_fraction` times the peak (`sslzoo.optimizers.WarmupCosine`)."""

    kind: str = "warmup_cosine"
    warmup_epochs: float = 0.0
    end_fraction: float = 0.0

    derived_keys = ("epochs", "total_steps", "warmup_steps")

    def _check(self):
        where = self._where()
        if self.kind not in SCHEDULE_KINDS:
            raise RecipeError(f"{where}kind must be one of {list(SCHEDULE_KINDS)}, got {self.kind!r}")
        if self.warmup_epochs < 0:
            raise RecipeError(f"{where}warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        if not 0.0 <= self.end_fraction <= 1.0:
            raise RecipeError(f"{where}end_fraction must be in [0, 1], got {self.end_fraction!r}")


@_dataclass
class Recipe(_Record):
    """A complete training configuration (see the module docstring).

    Data: `task` ("image", "clip" or "mmv": the `sslzoo-train` task module),
    `dataset`, `image_size`; CLIP's caption fields (`text_encoder`,
    `sequence_length`, `vocabulary_size`, `embedding_dim`, `init_temperature`,
    `max_scale`, `templates`, `held_out_templates`, `numeral_fraction`) and MMV's
    (`audio_backbone`, `text_encoder`, `sequence_length`, `vocabulary_size`,
    `train_clips`, `eval_split`) are None for other tasks.

    `source` names the paper table or official file the recipe follows;
    `notes` says where it cannot follow it.
    """

    objective: str
    backbone: dict
    dataset: str
    batch_size: int
    epochs: int
    optimizer: Optimizer
    source: str
    name: Optional[str] = None
    task: str = "image"
    objective_args: dict = dataclasses.field(default_factory=dict)
    image_size: Optional[int] = None
    augment: Optional[dict] = None
    schedule: Schedule = dataclasses.field(default_factory=Schedule)
    evaluation: dict = dataclasses.field(default_factory=dict)
    notes: str = ""
    # CLIP and MMV data and encoders
    text_encoder: Optional[dict] = None
    audio_backbone: Optional[dict] = None
    sequence_length: Optional[int] = None
    vocabulary_size: Optional[int] = None
    embedding_dim: Optional[int] = None
    init_temperature: Optional[float] = None
    max_scale: Optional[float] = None
    templates: Optional[tuple[str, ...]] = None
    held_out_templates: Optional[tuple[str, ...]] = None
    numeral_fraction: Optional[float] = None
    train_clips: Optional[int] = None
    eval_split: Optional[str] = None

    def _check(self):
        where = self._where()
        for field in ("batch_size", "epochs"):
            if getattr(self, field) <= 0:
                raise RecipeError(f"{where}{field} must be a positive integer, got {getattr(self, field)!r}")
        if self.task not in TASKS:
            raise RecipeError(f"{where}task must be one of {list(TASKS)}, got {self.task!r}")
        if "name" not in self.backbone or not isinstance(self.backbone["name"], str):
            raise RecipeError(f"{where}backbone must name its builder: {{\"name\": ..., ...}}, got {self.backbone!r}")
        if self.task == "image":
            if self.image_size is None or self.image_size < 2:
                raise RecipeError(f"{where}image_size must be an integer >= 2 for an image task, "
                                  f"got {self.image_size!r}")
            if self.augment is None:
                raise RecipeError(f"{where}augment must be an object for an image task, got None")
        if self.augment is not None:
            kind = self.augment.get("kind")
            if kind not in AUGMENT_KINDS:
                raise RecipeError(f"{where}augment.kind must be one of {list(AUGMENT_KINDS)}, got {kind!r}")
            if (kind == "clip_affine") != (self.task == "mmv"):
                raise RecipeError(f"{where}augment.kind {kind!r} does not fit task {self.task!r}: "
                                  "'clip_affine' moves video clips (task 'mmv'); 'simclr' and 'multicrop' make image views")
            if "recipe" in self.augment and not isinstance(self.augment["recipe"], str):
                raise RecipeError(f"{where}augment.recipe must be a string, got {self.augment['recipe']!r}")
        # The nested argument objects, against what they configure (`factory` imports this module).
        from sslzoo.models import factory

        factory.check_arguments(self, where)

    def to_json(self, indent=2):
        """The recipe as JSON text (keys sorted; `from_json` reads it back to an equal recipe)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """A recipe from JSON text: `to_json`'s output, or `sslzoo-train --show`'s (whose
        derived values, the rates after batch scaling and the like, are dropped and
        recomputed)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise RecipeError(f"recipe JSON does not parse: {error}") from None
        return cls.from_dict(data)


__all__ = ["AUGMENT_KINDS", "Optimizer", "Recipe", "RecipeError", "SCHEDULE_KINDS", "Schedule", "TASKS"]
