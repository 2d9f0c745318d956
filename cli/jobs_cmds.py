"""Plot-job commands: status, details, dirs, kill, suspend, resume, logs (plotter agents)."""
