"""Temporal connections: one data converter everywhere, connection settings from the SDK's env config."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

DATA_CONVERTER = pydantic_data_converter


async def connect(target_host: str | None = None) -> Client:
    """TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS* (and TEMPORAL_PROFILE with a
    config file) decide where; ``target_host`` overrides the address, for the embedded stack."""
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    if target_host:
        config["target_host"] = target_host
    return await Client.connect(**config, data_converter=DATA_CONVERTER)
