"""Data sets: the small bundled ones for tests and demos, and campaign data sets loaded from files.

A campaign's ``dataset:`` section is a :class:`DatasetConfig`; :func:`load_dataset` turns it into a
:class:`Dataset` in the network's layout (images NHWC, time series ``(n, T, channels)``), split
stratified by label and normalized with training-split statistics.  Nothing is ever downloaded and
no file is written.  Every problem with the user's files or settings raises :class:`BadInput` with
one line naming the file or the config key.
"""

from explore.data.builtin import Split, load_digits_split
from explore.data.config import BUILTINS, FORMATS, DatasetConfig, TransferConfig
from explore.data.dataset import Dataset, load_dataset
from explore.data.files import read_idx
from explore.data.layout import LAYOUTS, Reading

__all__ = [
    "BUILTINS",
    "FORMATS",
    "LAYOUTS",
    "Dataset",
    "DatasetConfig",
    "Reading",
    "Split",
    "TransferConfig",
    "load_dataset",
    "load_digits_split",
    "read_idx",
]
