"""Foresight: predicted completion and delay risk of open orders, learnt from closed orders' history."""

from engine.foresight.explain import Reason, render
from engine.foresight.history import FINISH_STAGES, OpenOrder, OrderHistory
from engine.foresight.model import Foresight, ModelLoadError, Prediction
from engine.foresight.train import TrainConfig, TrainOutcome, train

__all__ = ["FINISH_STAGES", "Foresight", "ModelLoadError", "OpenOrder", "OrderHistory", "Prediction", "Reason",
           "TrainConfig", "TrainOutcome", "render", "train"]
