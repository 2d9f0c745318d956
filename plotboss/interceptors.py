"""Wrapping gRPC server method handlers: the one place that knows the four handler shapes.

A *guard* runs before the method with the call's context; it may abort the call, and it may return a release
callback that runs when the call ends (for a stream: when the stream ends or is cancelled).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import grpc

Release = Callable[[], None]
Guard = Callable[[grpc.ServicerContext], Release | None]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic only in the type stubs


def guard_handler(handler: Handler, guard: Guard, *, streams_only: bool = False) -> Handler:
    """``handler`` with ``guard`` run before its method; unary methods are left alone when ``streams_only``."""
    ser, de = handler.response_serializer, handler.request_deserializer
    inner_stream = handler.unary_stream or handler.stream_stream
    if inner_stream is not None:

        def stream(request: Any, context: grpc.ServicerContext) -> Any:
            release = guard(context)
            try:
                yield from inner_stream(request, context)
            finally:
                if release is not None:
                    release()

        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(stream, de, ser)
        return grpc.stream_stream_rpc_method_handler(stream, de, ser)
    if streams_only:
        return handler
    inner_unary = handler.unary_unary or handler.stream_unary
    if inner_unary is None:
        return handler

    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        release = guard(context)
        try:
            return inner_unary(request, context)
        finally:
            if release is not None:
                release()

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary, de, ser)
    return grpc.stream_unary_rpc_method_handler(unary, de, ser)


class GuardInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """A server interceptor that runs ``guard(method, context)`` before every call it covers."""

    #: Leave unary calls alone (only streams are guarded).
    streams_only = False

    def guard(self, method: str, context: grpc.ServicerContext) -> Release | None:
        raise NotImplementedError

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return guard_handler(handler, lambda context: self.guard(method, context), streams_only=self.streams_only)
