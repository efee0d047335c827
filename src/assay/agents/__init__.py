"""Role agents on pydantic-ai: architect, tester, coder, security reviewer (the judge is apart).

Each role is an `Agent` whose ``output_type`` is its message type; its instructions live in
``prompts/<role>.md``; its user prompt is rendered by the role's module from typed messages.
"""
