"""Customer data encrypted in Temporal: the codec itself, raw histories without clear text, and the
codec server the UI calls."""

import base64
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.contract import OrderStatus, PaymentChannel, PaymentReceived, ShipmentDispatched, ShippedLine
from models.naming import workflow_id
from o2c.client import O2CClient
from o2c.platform.codec import EncryptionCodec, PayloadKeyError, new_key_spec, parse_keys
from o2c.platform.config import Settings
from o2c.platform.temporal import DATA_CONVERTER, data_converter
from o2c.web.codec_server import codec_server
from tests.harness import eventually, running_worker
from tests.support import Database, sample_order

NAME, EMAIL = "Ada Lovelace", "ada@example.com"


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_keys_rotate_and_tampering_is_detected() -> None:
    old_spec, new_spec = new_key_spec("k1"), new_key_spec("k2")
    old = EncryptionCodec(parse_keys(old_spec))
    rotated = EncryptionCodec(parse_keys(f"{new_spec},{old_spec}"))  # k2 encrypts, k1 still decrypts
    sealed_by_old = (await old.encode([payload(EMAIL)]))[0]
    sealed_by_new = (await rotated.encode([payload(EMAIL)]))[0]
    assert EMAIL.encode() not in sealed_by_old.SerializeToString()
    assert sealed_by_new.metadata["encryption-key-id"] == b"k2"
    assert (await rotated.decode([sealed_by_old]))[0] == payload(EMAIL)
    with pytest.raises(PayloadKeyError, match="'k2', which is not in O2C_PAYLOAD_KEYS"):
        await old.decode([sealed_by_new])
    relabelled = Payload()
    relabelled.CopyFrom(sealed_by_old)
    relabelled.metadata["encryption-key-id"] = b"k2"
    with pytest.raises(PayloadKeyError, match="does not authenticate"):
        await rotated.decode([relabelled])
    plain = payload("recorded before encryption")
    assert (await rotated.decode([plain]))[0] == plain, "old clear payloads still replay"
    for bad, reason in [
        ("k1", "id:base64key"),
        ("k1:!!", "not base64"),
        (f"k1:{base64.b64encode(b'x').decode()}", "1 bytes"),
    ]:
        with pytest.raises(PayloadKeyError, match=reason):
            parse_keys(bad)


async def raw_history(client: Client, order_id: str) -> bytes:
    """The history exactly as Temporal stores it, without any decoding."""
    response = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution={"workflow_id": workflow_id(order_id)},
        )
    )
    return response.history.SerializeToString()


async def run_order(client: Client, database: Database, task_queue: str) -> tuple[str, OrderStatus]:
    order = sample_order(customer={"id": "CUST-1", "name": NAME, "email": EMAIL})
    async with running_worker(client, database, task_queue):
        o2c = O2CClient(client, task_queue)
        handle = await o2c.start_order(order)
        lines = [ShippedLine(sku="WIDGET", quantity=2), ShippedLine(sku="GADGET", quantity=1)]
        await o2c.ship(
            order.order_id, ShipmentDispatched(shipment_id="S1", lines=lines, carrier="UPS", tracking_number="1Z")
        )
        view = await eventually(handle, lambda s: bool(s.invoices), "invoiced")
        await o2c.payment_received(
            order.order_id,
            PaymentReceived(
                payment_id=f"BANK-{order.order_id}",
                amount=view.totals.due,
                currency="USD",
                method=PaymentChannel.BANK_TRANSFER,
                received_at=datetime.now(UTC),
                reference=f"{NAME} {EMAIL}",
            ),
        )
        outcome = await handle.result()
    return order.order_id, outcome.status


async def test_raw_histories_hold_no_customer_data_in_clear(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    settings = Settings(payload_keys=new_key_spec())
    encrypted = Client(
        time_env.client.service_client, namespace=time_env.client.namespace, data_converter=data_converter(settings)
    )
    order_id, status = await run_order(encrypted, database, task_queue)
    history = await raw_history(time_env.client, order_id)
    # The same order without the codec, as a control: the check finds clear text where there is some.
    plain_id, _ = await run_order(time_env.client, database, f"{task_queue}-plain")
    control = await raw_history(time_env.client, plain_id)
    clear = control.count(EMAIL.encode())
    print(f"\nraw history: {len(history)} bytes, encrypted; the control run's has the email {clear} times in clear")
    assert status is OrderStatus.PAID
    assert EMAIL.encode() in control and NAME.encode() in control
    assert EMAIL.encode() not in history and NAME.encode() not in history
    assert b"binary/encrypted" in history


async def test_codec_server_answers_operators_only() -> None:
    spec = new_key_spec()
    codec = EncryptionCodec(parse_keys(spec))
    sealed = await codec.encode([payload(EMAIL)])
    body = json_format.MessageToJson(Payloads(payloads=sealed))
    app = codec_server(codec, "operator-token", ["http://localhost:8233"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        anonymous = await http.post("/decode", content=body)
        wrong = await http.post("/decode", content=body, headers={"Authorization": "Bearer guess"})
        by_header = await http.post("/decode", content=body, headers={"Authorization": "Bearer operator-token"})
        by_path = await http.post("/t/operator-token/decode", content=body)
        wrong_path = await http.post("/t/operator-tokeN/decode", content=body)
        garbage = await http.post("/decode", content=b"{nope", headers={"Authorization": "Bearer operator-token"})
        preflight = await http.options(
            "/t/operator-token/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        foreign = await http.options(
            "/decode", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
    assert [anonymous.status_code, wrong.status_code, wrong_path.status_code, garbage.status_code] == [
        401,
        401,
        401,
        400,
    ]
    for response in (by_header, by_path):
        decoded = json_format.Parse(response.content, Payloads())
        assert list(decoded.payloads) == [payload(EMAIL)]
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
    assert "access-control-allow-origin" not in foreign.headers


def test_the_plain_converter_is_only_for_tests_and_replays(tmp_path: Path) -> None:
    assert data_converter(Settings(payload_keys="", state_dir=tmp_path)) is DATA_CONVERTER
    (tmp_path / "payload-keys").write_text(new_key_spec("dev"))  # as the dev stack leaves it
    assert isinstance(data_converter(Settings(payload_keys="", state_dir=tmp_path)).payload_codec, EncryptionCodec)
    converter = data_converter(Settings(payload_keys=new_key_spec()))
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert (
        dataclasses.replace(converter, payload_codec=None).payload_converter_class
        is DATA_CONVERTER.payload_converter_class
    )
