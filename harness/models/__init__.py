"""Encoders harness evaluates: hub, local and the offline e5-small."""
