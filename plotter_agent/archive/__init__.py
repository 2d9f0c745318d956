"""The archiver's pure decisions: which plot to send (``source``), to which farmer (``farmers``), and what to do after
each outcome (``outcome``). No I/O, no clock of their own: the agent loop passes snapshots and ``now``."""
