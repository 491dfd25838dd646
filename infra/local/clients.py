"""Pub/Sub clients for the emulator, whatever the environment of this process says."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

# gRPC would route loopback traffic through an http_proxy from the environment.
_GRPC_OPTIONS = (("grpc.enable_http_proxy", 0),)


@contextlib.contextmanager
def pubsub_clients(
    host: str,
) -> Iterator[tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]]:
    """A publisher and a subscriber speaking plaintext gRPC to the emulator, closed on exit.

    The channels are explicit so PUBSUB_EMULATOR_HOST in this process does not matter, and
    closed because open gRPC channels keep the interpreter from exiting.
    """
    publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=_channel(host)))
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=_channel(host))
    )
    try:
        yield publisher, subscriber
    finally:
        publisher.stop()
        publisher.transport.close()
        subscriber.close()


def _channel(host: str) -> grpc.Channel:
    return grpc.insecure_channel(host, options=_GRPC_OPTIONS)
