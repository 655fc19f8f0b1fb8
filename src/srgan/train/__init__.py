"""Training: configuration, stages, loop and checkpoints."""

from .config import ConfigError, TrainConfig, load_config
from .trainer import Trainer

__all__ = ["ConfigError", "TrainConfig", "load_config", "Trainer"]
