"""The shared op-case table (cases.py) crossed with every target (targets.py)."""
