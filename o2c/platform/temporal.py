"""Temporal connections: one data converter everywhere, connection settings from the SDK's env config."""

import dataclasses
import functools

from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import ServiceClient

from o2c.platform.codec import EncryptionCodec, parse_keys
from o2c.platform.config import Settings, get_settings

# Built once: its JSON converter holds the cache of pydantic TypeAdapters.
_PYDANTIC = PydanticPayloadConverter()


class SharedPydanticPayloadConverter(CompositePayloadConverter):
    """Pydantic JSON, exactly as ``temporalio.contrib.pydantic`` writes and reads it, built cheaply.

    The SDK builds a new payload converter for every workflow activation and activity (each one gets a
    data converter with its own serialization context). Pydantic's own converter would build its
    serializer and an empty TypeAdapter cache each time, so every payload's adapter was built anew
    (py-spy put building converters at a sixth of the worker's time on activations). This one shares the
    converters of one instance, whose TypeAdapter cache (``functools.lru_cache``, thread-safe) then serves
    every activation and activity."""

    def __init__(self) -> None:
        super().__init__(*_PYDANTIC.converters.values())


# Without encryption: tests' own servers and replays of recorded histories.
DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic JSON, encrypted with AES-GCM when ``O2C_PAYLOAD_KEYS`` is set (``o2c.platform.codec``)."""
    spec = settings.resolved_payload_keys()
    if not spec:
        return DATA_CONVERTER
    return dataclasses.replace(DATA_CONVERTER, payload_codec=EncryptionCodec(parse_keys(spec)))


async def connect(target_host: str | None = None, settings: Settings | None = None) -> Client:
    """TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS* (and TEMPORAL_PROFILE with a
    config file) decide where; ``target_host`` overrides the address, for the embedded stack."""
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    if target_host:
        config["target_host"] = target_host
    return await Client.connect(**config, data_converter=data_converter(settings or get_settings()))


@functools.cache  # one per address: a second runtime could not bind it again
def metrics_runtime(bind_address: str) -> Runtime:
    """An SDK runtime whose own metrics (slots, cache, schedule-to-start and task latencies, failures, polls)
    Prometheus scrapes at ``http://<bind_address>/metrics``, named ``temporal_*``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


async def with_runtime(client: Client, runtime: Runtime) -> Client:
    """The same server, credentials, namespace and data converter as ``client``, over ``runtime`` (a worker's
    metrics come from the runtime of the client it polls with)."""
    config = dataclasses.replace(client.service_client.config, runtime=runtime)
    return Client(await ServiceClient.connect(config), namespace=client.namespace, data_converter=client.data_converter)
