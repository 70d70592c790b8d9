"""Online inference for registered models: one ``ServedModel`` behind a Lambda handler or a SageMaker endpoint.

Nothing is imported here on purpose: the Lambda zip and the SageMaker tarball ship only the modules
their entry point needs (see ``package.py``).
"""
