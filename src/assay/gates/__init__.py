"""Quality gates: the contract, the runner, the cache and the built-in gates."""
