"""The convergence loop: architect, tester, then coder iterations judged by gates, review and
holdout scenarios, until a stop condition holds. Never imports `assay.scenarios`: holdout results
arrive through a validator callback (`assay.factory.validator`).
"""
