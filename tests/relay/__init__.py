"""Playbook tests of the pure session core."""
