"""The evidence a run leaves: the report, the bundle, approvals, provenance and verification."""
