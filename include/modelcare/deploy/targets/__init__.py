"""Deployment targets behind one ``DeployTarget`` protocol (``base``); one module per target kind.
A new target is one new module that registers itself.
"""
