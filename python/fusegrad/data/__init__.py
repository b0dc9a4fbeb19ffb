"""Data sets, loaders, splits and scalers; pure NumPy (batches are NumPy arrays)."""

from fusegrad.data.dataset import DataLoader, Dataset, TensorDataset
from fusegrad.data.datasets import load_digits, load_mnist, read_idx
from fusegrad.data.preprocessing import MinMaxScaler, NotFittedError, StandardScaler
from fusegrad.data.split import KFold, LeaveOneOut, StratifiedKFold, train_val_test_split

__all__ = [
    "DataLoader",
    "Dataset",
    "KFold",
    "LeaveOneOut",
    "MinMaxScaler",
    "NotFittedError",
    "StandardScaler",
    "StratifiedKFold",
    "TensorDataset",
    "load_digits",
    "load_mnist",
    "read_idx",
    "train_val_test_split",
]
