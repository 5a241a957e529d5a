"""The example config's HTTP SMS gateway URLs carry the recipient: each one, pointed at a
loopback server, sends a request with the number in it (apprise's `:to=` payload field); a
plain `?to=` is what apprise silently drops, so the config refuses it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.alerts.channels import AppriseChannel
from hub.alerts.config import AlertsConfig, MethodKind, load_alerts_config
from mehr_app.services.http_sink import HttpSink
from tests.hub.alerts.conftest import config_dict, person

EXAMPLE = Path(__file__).resolve().parents[3] / "hub" / "alerts" / "examples" / "district.yaml"
HTTP_SCHEMES = ("json", "form")
SMS = "Mehr: Mavluda opa yordam tugmasini bosdi. https://mehr.test/ack/abc"


@pytest.fixture
def gateway() -> Iterator[HttpSink]:
    sink = HttpSink()
    sink.start()
    yield sink
    sink.stop()


def _http_sms_urls() -> list[str]:
    config = load_alerts_config(EXAMPLE)
    return [
        m.url
        for p in config.people
        for m in p.methods
        if m.method_kind is MethodKind.SMS and m.url.split("://", 1)[0] in HTTP_SCHEMES
    ]


def test_the_example_has_http_sms_gateway_urls() -> None:
    assert {u.split("://", 1)[0] for u in _http_sms_urls()} == set(HTTP_SCHEMES)


@pytest.mark.parametrize("url", _http_sms_urls())
def test_each_example_sms_url_carries_the_number_to_the_gateway(
    url: str, gateway: HttpSink
) -> None:
    number = re.search(r"998\d{9}", url)
    assert number, url
    local = url.replace("sms-gateway.example.uz", f"127.0.0.1:{gateway.port}")
    result = AppriseChannel().send(local, "Mehr: yordam", SMS)
    assert result.ok, result.error
    (request,) = gateway.requests
    assert (request.method, request.path) == ("POST", "/send")
    payload = request.json() if url.startswith("json") else request.form()
    assert payload["to"] == number.group(0)
    assert payload["message"] == SMS
    assert "title" not in payload, "an SMS gateway gets the text only"


def test_apprise_drops_a_plain_to_query_so_the_config_refuses_it(gateway: HttpSink) -> None:
    # What the old example did: the request goes out without the number anywhere.
    result = AppriseChannel().send(
        f"json://127.0.0.1:{gateway.port}/send?to=998901112233", "t", "body"
    )
    assert result.ok
    (request,) = gateway.requests
    assert "998901112233" not in request.body.decode() and not request.query
    cfg = config_dict()
    cfg["people"].append(person("sms", "json://gw.example.uz/send?to=998901112233"))
    with pytest.raises(ValidationError, match="drops '\\?to='"):
        AlertsConfig.model_validate(cfg)


def test_a_query_parameter_recipient_travels_in_the_url(gateway: HttpSink) -> None:
    result = AppriseChannel().send(
        f"form://127.0.0.1:{gateway.port}/send?-to=998901112233", "t", "body"
    )
    assert result.ok
    (request,) = gateway.requests
    assert request.query["to"] == ["998901112233"]
