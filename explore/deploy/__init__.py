"""deploy: firmware bundles for runtime_c (writing, reading back, validating on the host and on QEMU).

The bundle API is re-exported here; validation, QEMU, calibration and the model fuzz are imported from
their modules (they load the simulator).
"""

from explore.deploy.bundle import bundle_design, export_bundle
from explore.deploy.c_reader import load_bundle, parse_c_bundle
from explore.deploy.integrity import checked_manifest, verify_files
from explore.deploy.manifest import FORMAT, load_schema, validate_manifest

__all__ = ["FORMAT", "bundle_design", "checked_manifest", "export_bundle", "load_bundle", "load_schema",
           "parse_c_bundle", "validate_manifest", "verify_files"]
