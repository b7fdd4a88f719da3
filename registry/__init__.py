"""The registry: the declarative voice-m2.yaml model, its loader, validator and the per-turn assignment.

Pure: no boto3 here. Everything else in the product stands on these types.
"""
