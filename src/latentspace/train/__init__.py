"""The training engine shared by every neural model (see ``engine.py``)."""

from latentspace.train.engine import TrainConfig, pick_device, train

__all__ = ["TrainConfig", "pick_device", "train"]
