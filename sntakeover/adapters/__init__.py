"""Adapters: one plugin module per monitoring source, turning its payload into events."""
