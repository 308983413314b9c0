"""explore: find small neural networks that microcontrollers can train on-device."""

__version__ = "0.1.0"
