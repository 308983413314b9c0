"""The one base class of every configuration section the user writes (campaign, board, data set)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A frozen section that rejects unknown keys and values of the wrong type.

    strict: "10" or true are not numbers (an int is still accepted where a float is expected); YAML
    already gives real ints, floats and booleans, so a quoted number is a mistake worth reporting.
    Floats must be finite: YAML's .inf and .nan are never a setting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# Bounds of the numbers a user sets.  Far beyond any real setting, they stop a typo such as 10**30
# before it overflows a C long, an int32 or a 32-bit seed deep inside training.
#: NumPy's legacy generator, Optuna's samplers and JAX's keys take 32-bit seeds.
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_TRIALS = 1_000_000
#: Channels of an input sample, and classes of a data set.
MAX_CHANNELS = 65_536
MAX_CLASSES = 65_536
#: Optimizer steps, samples, layer indices and similar counts.
MAX_COUNT = 10**9
#: Bytes of memory on a 32-bit microcontroller (its whole address space).
MAX_BYTES = 2**32
