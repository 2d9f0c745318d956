"""gRPC servicer of the plotter agent: converts messages to domain values, calls the domain, maps errors (plotboss.rpc)."""

from __future__ import annotations

from plotboss.v1 import plotter_pb2_grpc


class PlotterServicer(plotter_pb2_grpc.PlotterServiceServicer):
    """RPCs not overridden here answer UNIMPLEMENTED."""
