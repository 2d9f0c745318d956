"""plotboss shared kernel: the gRPC contract (v1), transport, auth, config pieces and plot naming."""

__version__ = "0.1.0"
