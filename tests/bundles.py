"""Bundles in the form explore wrote them before ``explore_bundle.h`` existed, shared by the deploy tests
that check such bundles still load, compile and validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from explore.deploy.manifest import manifest_bytes, sha256

HEADER = "explore_bundle.h"


def with_types_inline(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` at ``out`` as an earlier explore wrote it: the C types inline in model.h
    (the text between ``#include <stdint.h>`` and the include guard's ``#endif`` of the header), no
    ``explore_bundle.h``, and a manifest that lists only the other files."""
    shutil.copytree(bundle, out)
    header = (out / HEADER).read_text()
    start, end = header.index("#include <stdint.h>\n\n") + len("#include <stdint.h>\n\n"), header.rindex("\n#endif")
    include = f'#include "{HEADER}"\n'
    model_h = (out / "model.h").read_text()
    assert model_h.count(include) == 1
    (out / "model.h").write_text(model_h.replace(include, header[start:end]))
    (out / HEADER).unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = [{"path": f["path"], "bytes": (out / f["path"]).stat().st_size,
                          "sha256": sha256((out / f["path"]).read_bytes())}
                         for f in manifest["files"] if f["path"] != HEADER]
    (out / "manifest.json").write_bytes(manifest_bytes(manifest))
    return out
