"""gRPC servicer of the farmer agent: converts messages to domain values, calls the domain, maps errors (plotboss.rpc)."""

from __future__ import annotations

from plotboss.v1 import farmer_pb2_grpc


class FarmerServicer(farmer_pb2_grpc.FarmerServiceServicer):
    """RPCs not overridden here answer UNIMPLEMENTED."""
