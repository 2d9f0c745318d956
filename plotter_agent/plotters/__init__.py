"""Per-plotter log formats: chia/chiapos, madMAx and bladebit line handlers (see :mod:`plotter_agent.logparse`)."""
