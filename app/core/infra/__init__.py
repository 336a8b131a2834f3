"""Paths, settings, logging, disk space, machine facts, bundled resources, the desktop entry."""
