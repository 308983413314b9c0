"""Where explore's C runtime lives, and the header of the bundle types it shares with ``explore export``."""

from __future__ import annotations

from explore.resources import runtime_dir

RUNTIME_DIR = runtime_dir()
#: The C types of ``explore.bundle/1`` (layer table, quantization, plans); every bundle carries a copy.
BUNDLE_HEADER = RUNTIME_DIR / "include" / "explore_bundle.h"
