"""The training engine shared by every neural model (``engine.py``) and the side effects of a run,
handed to it as callbacks (``callbacks.py``: the run folder, the progress bar, TensorBoard)."""

from latentspace.train.callbacks import Callback, ProgressBar, RunFolder, TensorBoard, default_callbacks
from latentspace.train.engine import Batch, TrainConfig, pick_device, train

__all__ = ["Batch", "Callback", "ProgressBar", "RunFolder", "TensorBoard", "TrainConfig", "default_callbacks",
           "pick_device", "train"]
