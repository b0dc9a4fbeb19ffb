"""fusegrad.optim: optimizers with one fused native call per parameter group, and schedules."""

from fusegrad.optim import lr_scheduler
from fusegrad.optim.adadelta import Adadelta
from fusegrad.optim.adagrad import Adagrad
from fusegrad.optim.adam import Adam, AdamW
from fusegrad.optim.optimizer import Optimizer
from fusegrad.optim.rmsprop import RMSprop
from fusegrad.optim.sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
