"""assay plugin: a gate checking the licences of a project's dependencies against a policy."""

from __future__ import annotations

from collections.abc import Sequence

from assay.gates.base import Gate
from assay.plugins import hookimpl

from assay_licence_policy.gate import LicencePolicyGate

__all__ = ["ASSAY_PLUGIN_API", "LicencePolicyGate", "__version__", "assay_gates"]

__version__ = "0.1.0"

#: The assay plugin API this plugin is written against.
ASSAY_PLUGIN_API = 1


@hookimpl
def assay_gates() -> Sequence[Gate]:
    """The licence-policy gate."""
    return [LicencePolicyGate()]
