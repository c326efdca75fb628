"""A local stand-in for SendGrid's ``POST /v3/mail/send``, for the dev stack and the tests.

It checks every request against SendGrid's published v3 schema (``o2c/devtools/specs``) plus the rules SendGrid
enforces beyond it (no unknown keys, at least one personalization, an API key), answers like SendGrid
(202 with ``X-Message-Id``; 400 with ``errors[]``), and keeps each accepted email as a JSON file with its
attachments decoded beside it. ``GET /_sink/messages`` lists them for tests and ``o2c mail``; ``GET
/v3/messages`` answers the Email Activity query the email activity makes before it sends again.
"""

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SPEC = Path(__file__).with_name("specs") / "sendgrid-mail-v3.openapi.json"
ACTIVITY_QUERY = re.compile(r"unique_args\['([A-Za-z0-9_]+)'\]=\"([^\"]*)\"")


@lru_cache(maxsize=1)
def mail_send_validator() -> Draft202012Validator:
    spec = json.loads(SPEC.read_text())
    body = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]["schema"]
    # The published schema declares custom_args a string; SendGrid and its SDKs send an object.
    body["properties"]["custom_args"] = {"type": "object", "additionalProperties": {"type": "string"}}
    body["additionalProperties"] = False
    # The whole document is the root, so the body's "#/components/..." references resolve in it.
    root = {**spec, "$ref": "#/components/requestBodies/PostMailSend/content/application~1json/schema"}
    return Draft202012Validator(root)


def problems(payload: Any) -> list[str]:
    """What SendGrid would refuse in this payload, one line each (empty when it would accept it)."""
    found = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
        for error in mail_send_validator().iter_errors(payload)
    ]
    if isinstance(payload, dict) and payload.get("personalizations") == []:
        found.append("personalizations: at least one personalization is required")
    return found


class MailStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def save(self, payload: dict[str, Any]) -> str:
        message_id = uuid.uuid4().hex
        record = {"id": message_id, "received_at": datetime.now(UTC).isoformat(), "payload": payload}
        attachments = []
        for index, attachment in enumerate(payload.get("attachments") or []):
            target = self.folder / f"{message_id}-{index}-{Path(attachment.get('filename', 'file')).name}"
            target.write_bytes(base64.b64decode(attachment["content"]))
            attachments.append(str(target))
        record["attachment_files"] = attachments
        (self.folder / f"{message_id}.json").write_text(json.dumps(record, indent=1))
        return message_id

    def messages(self) -> list[dict[str, Any]]:
        records = [json.loads(p.read_text()) for p in self.folder.glob("*.json")]
        return sorted(records, key=lambda r: r["received_at"])

    def clear(self) -> None:
        for path in self.folder.iterdir():
            path.unlink()


def create_app(folder: Path) -> Starlette:
    store = MailStore(folder)

    async def send(request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _errors(401, ["authorization required"])
        try:
            payload = await request.json()
        except ValueError:
            return _errors(400, ["request body is not JSON"])
        found = problems(payload)
        if found:
            return _errors(400, found)
        message_id = store.save(payload)
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    async def activity(request: Request) -> Response:
        """SendGrid's Email Activity API (``GET /v3/messages``), for the one query we make of it:
        ``unique_args['name']="value"`` (our custom args), newest first."""
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _errors(401, ["authorization required"])
        match = ACTIVITY_QUERY.fullmatch(request.query_params.get("query", ""))
        if match is None:
            return _errors(400, ["query: only unique_args['name']=\"value\" is supported by the sink"])
        name, value = match.groups()
        limit = int(request.query_params.get("limit", "10"))
        found = [
            {
                "msg_id": record["id"],
                "from_email": record["payload"]["from"]["email"],
                "subject": record["payload"].get("subject", ""),
                "to_email": record["payload"]["personalizations"][0]["to"][0]["email"],
                "status": "delivered",
                "last_event_time": record["received_at"],
            }
            for record in reversed(store.messages())
            if (record["payload"].get("custom_args") or {}).get(name) == value
        ]
        return JSONResponse({"messages": found[:limit]})

    async def listing(request: Request) -> Response:
        if request.method == "DELETE":
            store.clear()
            return Response(status_code=204)
        return JSONResponse(store.messages())

    return Starlette(
        routes=[
            Route("/v3/mail/send", send, methods=["POST"]),
            Route("/v3/messages", activity, methods=["GET"]),
            Route("/_sink/messages", listing, methods=["GET", "DELETE"]),
            Route("/_sink/health", lambda _: JSONResponse({"ok": True}), methods=["GET"]),
        ]
    )


def _errors(status: int, messages: list[str]) -> JSONResponse:
    return JSONResponse({"errors": [{"message": m, "field": None} for m in messages]}, status_code=status)
