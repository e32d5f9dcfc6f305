"""Reflection nudges: when each worker is reminded, worked out in the worker's own time zone."""
