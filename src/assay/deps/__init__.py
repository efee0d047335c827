"""Third-party dependencies of a generated service: chosen from a policy, locked with hashes,
audited, licence-checked, and installed offline for the sandbox.

The pipeline, run on the host before any generated code runs (`prepare.prepare_dependencies`):

1. `policy`: every name the design asks for is checked against ``[tool.assay.dependencies]``;
2. `lock`: uv resolves them into a lock pinned by hash (``uv pip compile --generate-hashes``);
3. `policy` again, over every resolved component (deny-list; under ``regulated`` the allow-list);
4. `wheelhouse`: the locked wheels are downloaded once into a content-addressed store;
5. `environment`: a per-run folder is installed from it with ``--no-index --require-hashes``
   (no network), and each component's licence is read from its metadata;
6. `audit`: pip-audit over the lock, honest about what it could not audit.

Any refusal goes back to the architect with the reason; the sandbox mounts the folder read-only.
"""
