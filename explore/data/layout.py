"""Which axis of a stored array holds the channels (``dataset.layout``), and the one reading of it.

The networks take channel-last samples: series ``(positions, channels)`` and images ``(height,
width, channels)``.  Files written for PyTorch are channel-first: an ``(N, 1, 512)`` array there is
512 positions of 1 channel, but read channel-last it is 1 position of 512 channels, and every cost
figure of the networks built for it would be wrong.  So without ``dataset.layout`` an array is read
channel-last only where that reading is plausible; otherwise it is refused, naming the shape and
the key to set.  Nothing is guessed in silence: :meth:`Reading.describe` says how it was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from explore.errors import BadInput

LAYOUTS = ("nlc", "ncl", "nhwc", "nchw")
Layout = Literal["nlc", "ncl", "nhwc", "nchw"]

#: where a layout came from when the user set it
FROM_CONFIG = "dataset.layout"
#: where it came from when nothing set it and the channel-last reading is plausible
ASSUMED = "assumed channel-last; dataset.layout sets it"

_SERIES = ("nlc", "ncl")
_IMAGES = ("nhwc", "nchw")


@dataclass(frozen=True)
class Reading:
    """How one array was read: its stored shape, the layout applied and who chose it, and the
    channel-last shape of one sample that the networks see."""

    name: str
    stored: tuple[int, ...]
    layout: str
    chosen_by: str
    sample: tuple[int, ...]

    def describe(self) -> str:
        """E.g. ``x (1000, 1, 512) read as ncl (dataset.layout) → 512 positions × 1 channel``."""
        *spatial, channels = self.sample
        extent = (f"{spatial[0]} position{_s(spatial[0])}" if len(spatial) == 1
                  else "×".join(map(str, spatial)) + " pixels")
        stored = "(" + ", ".join(map(str, self.stored)) + ")"
        return (f"{self.name} {stored} read as {self.layout} ({self.chosen_by}) → {extent} × "
                f"{channels} channel{_s(channels)}")

    def to_dict(self) -> dict:
        return {"array": self.name, "stored_shape": list(self.stored), "layout": self.layout,
                "chosen_by": self.chosen_by, "sample_shape": list(self.sample)}


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def channel_last(x: np.ndarray, layout: str | None, name: str,
                 chosen_by: str = FROM_CONFIG) -> tuple[np.ndarray, Reading | None]:
    """``x`` as channel-last ``(n, positions, channels)`` or ``(n, H, W, channels)``, and how it was read.

    ``layout`` None reads channel-last where that is plausible and raises :class:`BadInput` where it
    is not (more channels than positions along an axis).  Arrays of fewer than 2 axes are returned
    unread (the sample checks report them); arrays of more than 4 axes are taken as stored.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        return x, None
    if x.ndim > 4:
        if layout is not None:
            raise BadInput(f"{name} has shape {x.shape}: {FROM_CONFIG} applies to arrays of 2 to 4 axes "
                           f"((n, L), (n, L, C), (n, H, W) or (n, H, W, C))")
        return x, Reading(name, x.shape, "channel-last", "as stored", x.shape[1:])
    if layout is None:
        layout, chosen_by = _plausible_layout(x.shape, name), ASSUMED
    read = _read(x, layout, name)
    return read, Reading(name, x.shape, layout, chosen_by, read.shape[1:])


def _read(x: np.ndarray, layout: str, name: str) -> np.ndarray:
    fits = {2: _SERIES, 3: LAYOUTS, 4: _IMAGES}[x.ndim]
    if layout not in fits:
        kind = "series rows (n, L)" if x.ndim == 2 else "images (n, H, W, C) or (n, C, H, W)"
        raise BadInput(f"{name} has shape {x.shape}, which holds {kind}; {FROM_CONFIG} {layout} does "
                       f"not fit it (allowed for this shape: {', '.join(fits)})")
    if x.ndim == 2 or (x.ndim == 3 and layout in _IMAGES):
        return x[..., np.newaxis]  # one channel: (n, L) series or (n, H, W) grey images
    if layout == "ncl":
        return x.transpose(0, 2, 1)
    if layout == "nchw":
        return x.transpose(0, 2, 3, 1)
    return x


def _plausible_layout(shape: tuple[int, ...], name: str) -> str:
    """The channel-last layout of ``shape``, or BadInput when that reading is implausible."""
    if len(shape) == 2:
        return "nlc"
    *spatial, channels = shape[1:]
    if channels <= min(spatial):
        return "nlc" if len(shape) == 3 else "nhwc"
    if len(shape) == 3:
        reading = f"{spatial[0]} position{_s(spatial[0])} × {channels} channels"
        hint = (f"set {FROM_CONFIG}: ncl if channels come first ({channels} positions × {spatial[0]} "
                f"channel{_s(spatial[0])}), nhwc if these are (n, H, W) grey images, or nlc to keep this reading")
    else:
        reading = f"{spatial[0]}×{spatial[1]} pixels × {channels} channels"
        hint = (f"set {FROM_CONFIG}: nchw if channels come first ({shape[2]}×{shape[3]} pixels × {shape[1]} "
                f"channel{_s(shape[1])}), or nhwc to keep this reading")
    raise BadInput(f"{name} has shape {shape}: read channel-last that is {reading}, more channels than "
                   f"positions, which is implausible; {hint}")
