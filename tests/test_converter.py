"""Our payload converter writes and reads exactly what the SDK's pydantic converter does, and the SDK's habit
of building a new converter per activation no longer throws the TypeAdapter cache away."""

from datetime import UTC, datetime
from decimal import Decimal

from temporalio.contrib.pydantic import pydantic_data_converter

from models.contract import PaymentChannel, PaymentReceived
from o2c.platform.temporal import _PYDANTIC, DATA_CONVERTER, SharedPydanticPayloadConverter

PAYMENT = PaymentReceived(
    payment_id="P1",
    amount=Decimal("49.48"),
    currency="USD",
    method=PaymentChannel.BANK_TRANSFER,
    received_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
)


def test_same_payloads_as_the_sdks_pydantic_converter() -> None:
    ours = DATA_CONVERTER.payload_converter.to_payloads([PAYMENT, {"a": 1}, None, b"raw"])
    theirs = pydantic_data_converter.payload_converter.to_payloads([PAYMENT, {"a": 1}, None, b"raw"])
    assert ours == theirs
    assert pydantic_data_converter.payload_converter.from_payloads(ours, [PaymentReceived, dict, None, bytes]) == [
        PAYMENT,
        {"a": 1},
        None,
        b"raw",
    ]
    assert DATA_CONVERTER.payload_converter.from_payloads(theirs, [PaymentReceived])[0] == PAYMENT


def test_a_new_converter_per_activation_keeps_the_type_adapters() -> None:
    json_converter = _PYDANTIC.converters[b"json/plain"]
    payload = SharedPydanticPayloadConverter().to_payloads([PAYMENT])
    SharedPydanticPayloadConverter().from_payloads(payload, [PaymentReceived])
    before = json_converter._type_adapter.cache_info()  # type: ignore[attr-defined]
    for _ in range(3):  # as the SDK does: a fresh converter for every activation
        assert SharedPydanticPayloadConverter().from_payloads(payload, [PaymentReceived]) == [PAYMENT]
    after = json_converter._type_adapter.cache_info()  # type: ignore[attr-defined]
    assert after.hits == before.hits + 3
    assert after.misses == before.misses
