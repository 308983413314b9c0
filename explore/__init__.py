"""explore: find small neural networks that microcontrollers can train on-device."""

from explore.version import __version__
