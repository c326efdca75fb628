"""The storefront client against a real Temporal server, with customer data encrypted as in production."""

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from o2c.client import O2CClient, OrderConflict
from o2c.platform.codec import new_key_spec
from o2c.platform.config import Settings
from o2c.platform.temporal import data_converter
from tests.support import sample_order
from tests.test_codec import raw_history


async def test_idempotent_start_with_encryption_on(time_env: WorkflowEnvironment, task_queue: str) -> None:
    encrypted = Client(
        time_env.client.service_client,
        namespace=time_env.client.namespace,
        data_converter=data_converter(Settings(payload_keys=new_key_spec())),
    )
    # Only starts and history reads are involved: no worker needs to pick the order up.
    o2c = O2CClient(encrypted, task_queue)
    order = sample_order()
    first = await o2c.start_order(order)
    assert b"binary/encrypted" in await raw_history(time_env.client, order.order_id)

    again = await o2c.start_order(order.model_dump(mode="json"))
    assert again.id == first.id
    assert (await again.describe()).run_id == first.first_execution_run_id == again.first_execution_run_id

    with pytest.raises(OrderConflict, match=f"order {order.order_id} already exists with different contents"):
        await o2c.start_order(order.model_copy(update={"currency": "EUR"}))
    await first.terminate("test done")
