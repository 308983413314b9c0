"""Bundles in the forms earlier explores wrote them, and hand-edited bundles listed anew, shared by the
deploy tests that check such bundles still load, compile and validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from explore.deploy.manifest import manifest_bytes, sha256

HEADER = "explore_bundle.h"
#: what made a bundle build on its own; bundles before that had none of it
STANDALONE = ("CMakeLists.txt", "example", "runtime")


def relist(bundle: Path, keep=lambda path: True) -> Path:
    """Rewrite the file list of ``bundle``'s manifest.json to the files' present sizes and sha256,
    keeping the entries ``keep(path)`` accepts: a bundle edited by hand and listed anew."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"] = [{"path": f["path"], "bytes": (bundle / f["path"]).stat().st_size,
                          "sha256": sha256((bundle / f["path"]).read_bytes())}
                         for f in manifest["files"] if keep(f["path"])]
    (bundle / "manifest.json").write_bytes(manifest_bytes(manifest))
    return bundle


def before_standalone(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` at ``out`` as explore wrote it before bundles built on their own: no
    CMakeLists.txt, example/ or runtime/, and a manifest that does not list them."""
    shutil.copytree(bundle, out)
    for name in STANDALONE:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return relist(out, keep=lambda path: path.split("/")[0] not in STANDALONE)


def with_types_inline(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` at ``out`` as an earlier explore wrote it: the C types inline in model.h
    (the text between ``#include <stdint.h>`` and the include guard's ``#endif`` of the header), no
    ``explore_bundle.h``, nothing that builds it on its own, and a manifest that lists only the
    other files."""
    before_standalone(bundle, out)
    header = (out / HEADER).read_text()
    start, end = header.index("#include <stdint.h>\n\n") + len("#include <stdint.h>\n\n"), header.rindex("\n#endif")
    include = f'#include "{HEADER}"\n'
    model_h = (out / "model.h").read_text()
    assert model_h.count(include) == 1
    (out / "model.h").write_text(model_h.replace(include, header[start:end]))
    (out / HEADER).unlink()
    return relist(out, keep=lambda path: path != HEADER)
