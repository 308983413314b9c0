"""The one base class of every configuration section the user writes (campaign, board, data set)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A frozen section that rejects unknown keys and values of the wrong type.

    strict: "10" or true are not numbers (an int is still accepted where a float is expected); YAML
    already gives real ints, floats and booleans, so a quoted number is a mistake worth reporting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
