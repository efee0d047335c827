"""Preflight: is the spec clear enough to build from, before any budget is spent on it?

Two parts, in this order: the deterministic rules (`assay.agents.preflight.rules`, no model) and
the clarity review (`assay.agents.preflight.review`, a pydantic-ai agent scoring the spec per
aspect and asking the author concrete questions). `assay preflight SPEC` runs them alone; `assay
run` runs them before the architect and stops below ``[tool.assay.preflight] threshold``. This
package imports without pydantic-ai; only the review needs it.
"""
