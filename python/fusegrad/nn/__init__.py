"""``fusegrad.nn``: Module and Parameter, layers, losses, ``functional``, ``init``, ``utils``."""

from fusegrad.nn import functional, init, utils
from fusegrad.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from fusegrad.nn.batchnorm import BatchNorm1d
from fusegrad.nn.container import Flatten, Identity, Sequential
from fusegrad.nn.dropout import Dropout
from fusegrad.nn.linear import Linear
from fusegrad.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from fusegrad.nn.module import Module, Parameter
from fusegrad.nn.regularization import l1_penalty, l2_penalty

__all__ = [
    "BCEWithLogitsLoss", "BatchNorm1d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity",
    "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Module", "NLLLoss", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init", "l1_penalty", "l2_penalty",
    "utils",
]
