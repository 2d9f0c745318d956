"""A discrete-event simulation of a plotboss fleet that drives the real decision code (see sim/fleet.py)."""
