"""Farmer commands: drives, reservations (farmer agents)."""
