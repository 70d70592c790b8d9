"""Deployment: the typed plan resolved once per run, the exact AWS requests (pure builders pinned with
botocore's Stubber) and the targets (SageMaker endpoint, Lambda alias) behind one protocol.

Imports config, registry, serving.package and errors; AWS clients come from the amazon provider's hooks.
"""
