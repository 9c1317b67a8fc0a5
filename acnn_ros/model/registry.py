# SPDX-License-Identifier: Apache-2.0
"""
The model registry (timm style): every variant registers its builder where it is defined.

    @register_model('opt')
    def acnn_opt(num_classes: int, **overrides) -> nn.Module: ...

    create_model('opt', 4, attention_maps=True)    # any registered name, config overrides
    list_models()                                  # ['base', 'best', 'det_n', ...]

Registered today: the A-CNN 'base' / 'best' / 'opt' (`acnn.py`), the plain-CNN baselines
'plain_small' / 'plain_full' (`baselines.py`) and the YOLOv8-style detectors 'det_n' /
'det_n_assn' (`detector.py`). A builder takes the class count and config overrides and returns
an `nn.Module` whose forward returns a `output.ModelOutput` (or, for a detector, a
`DetectorOutput` starting with the same fields).
"""
from typing import Any, Callable, Dict, List, Optional, Union

from torch import nn

ModelBuilder = Callable[..., nn.Module]
_BUILDERS: Dict[str, ModelBuilder] = {}


def register_model(name: Union[str, ModelBuilder, None] = None):
    """
    Register a builder `(num_classes, **overrides) -> nn.Module` under `name`.

    Use as ``@register_model('opt')`` or bare ``@register_model`` (the function's name). A name
    registered twice by different builders is a ValueError (two variants would share it).
    """
    def register(builder: ModelBuilder, key: Optional[str]) -> ModelBuilder:
        key = key or builder.__name__
        known = _BUILDERS.get(key)
        if known is not None and (known.__module__, known.__qualname__) != (
                builder.__module__, builder.__qualname__):
            raise ValueError(f'model name {key!r} is already registered by '
                             f'{known.__module__}.{known.__qualname__}')
        _BUILDERS[key] = builder
        return builder

    if callable(name):
        return register(name, None)
    return lambda builder: register(builder, name)


def _register_builtin_models() -> None:
    """Import the modules that define models: each registers its variants on import."""
    # Imported here, not at the top: these modules import this one.
    from acnn_ros.model import acnn, baselines, detector  # noqa: F401


def list_models() -> List[str]:
    """Return every registered model name, sorted."""
    _register_builtin_models()
    return sorted(_BUILDERS)


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
    """
    Return a new model by registered name with `num_classes` classes.

    Overrides replace config fields, e.g. ``attention_maps=True`` (seed 002 ablation) or
    ``roi_width=80``; a field the model does not have is a ValueError or TypeError from its
    builder. An unknown name is a ValueError listing the known ones.
    """
    _register_builtin_models()
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f'unknown model {name!r}; known models: {", ".join(sorted(_BUILDERS))}')
    return builder(num_classes, **overrides)
