"""Many runs on many machines (issue 16; the design is docs/fleet.md).

Built so far: `assay.fleet.database`, which names where the fleet's state lives (SQLite, the
embedded default, or PostgreSQL) for ``[tool.assay.fleet] database`` and the ledger's stores.
"""
