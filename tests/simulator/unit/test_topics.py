"""IoT Hub's MQTT topics for modules and leaf devices, as Azure IoT Hub documents them.

Expected strings come from "Communicate with an IoT hub using the MQTT protocol" (Microsoft Learn):
``devices/{device}/modules/{module}/messages/events/{property_bag}`` for telemetry,
``$iothub/twin/GET/?$rid={rid}``, ``$iothub/twin/PATCH/properties/reported/?$rid={rid}``,
``$iothub/twin/res/{status}/?$rid={rid}``, ``$iothub/twin/PATCH/properties/desired/?$version={v}``,
``$iothub/methods/POST/{method}/?$rid={rid}`` and ``$iothub/methods/res/{status}/?$rid={rid}``; a
user name is ``{hub}/{device}/{module}/?api-version=...`` (a device: ``{hub}/{device}/?api-version=...``).
Property bags are URL-encoded ``key=value`` pairs joined by ``&`` with ``$.``-prefixed system keys.
"""

from __future__ import annotations

import pytest

from edgesim.hub import topics
from edgesim.hub.topics import Identity

MODULE = Identity("dev1", "filter")
DEVICE = Identity("leaf1")


def test_identity_of_a_module_and_of_a_device() -> None:
    assert (MODULE.is_device, MODULE.key, MODULE.base) == (False, "filter", "devices/dev1/modules/filter")
    assert (DEVICE.is_device, DEVICE.key, DEVICE.base) == (True, "devices/leaf1", "devices/leaf1")
    assert topics.device_key("leaf1") == "devices/leaf1"
    assert MODULE.input_filter == "devices/dev1/modules/filter/inputs/#"
    assert DEVICE.input_filter == "devices/leaf1/messages/devicebound/#"


def test_parse_property_bag_splits_system_and_application_properties() -> None:
    system, application = topics.parse_property_bag(
        "%24.mid=m%201&%24.cid=c1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.on=out1&temp=21.5&site=north%26south"
    )
    assert system == {
        "messageId": "m 1",
        "correlationId": "c1",
        "contentType": "application/json",
        "contentEncoding": "utf-8",
        "outputName": "out1",
    }
    assert application == {"temp": "21.5", "site": "north&south"}


def test_parse_property_bag_edge_cases() -> None:
    assert topics.parse_property_bag("") == ({}, {})
    assert topics.parse_property_bag("a=1&&b=") == ({}, {"a": "1", "b": ""})
    # System keys IoT Hub does not route ($.ifid, ...) are dropped, not taken as application properties.
    assert topics.parse_property_bag("%24.ifid=x&$.uid=u&k") == ({"userId": "u"}, {"k": ""})


def test_every_system_key_maps_to_its_iot_hub_name() -> None:
    assert topics.TOPIC_SYSTEM_KEYS == {
        "$.mid": "messageId",
        "$.cid": "correlationId",
        "$.uid": "userId",
        "$.ct": "contentType",
        "$.ce": "contentEncoding",
        "$.exp": "expiryTimeUtc",
        "$.on": "outputName",
        "$.cdid": "connectionDeviceId",
        "$.cmid": "connectionModuleId",
    }


def test_encode_property_bag_quotes_everything_and_orders_keys() -> None:
    bag = topics.encode_property_bag(
        {"correlationId": "c/1", "messageId": "m 1", "outputName": "not delivered"}, {"z": "last", "a b": "x&y=z"}
    )
    # Delivered system properties first, in a fixed order, then application properties sorted by key;
    # "/", " ", "&", "=" and "$" are all percent-encoded (quote with nothing safe, spaces as %20).
    assert bag == "%24.mid=m%201&%24.cid=c%2F1&a%20b=x%26y%3Dz&z=last"
    assert topics.parse_property_bag(bag) == (
        {"messageId": "m 1", "correlationId": "c/1"},
        {"a b": "x&y=z", "z": "last"},
    )


def test_input_topics() -> None:
    assert (
        MODULE.input_topic("in 1", {"messageId": "1"}, {"k": "v"})
        == "devices/dev1/modules/filter/inputs/in%201/%24.mid=1&k=v"
    )
    assert DEVICE.input_topic("ignored", {}, {"k": "v"}) == "devices/leaf1/messages/devicebound/k=v"


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("devices/dev1/modules/filter/inputs/#", "inputs"),
        ("$iothub/twin/res/#", "twin_responses"),
        ("$iothub/twin/PATCH/properties/desired/#", "desired_patches"),
        ("$iothub/methods/POST/#", "methods"),
        ("devices/dev1/modules/other/inputs/#", None),
        ("devices/dev1/modules/filter/inputs/in", None),
        ("#", None),
        ("$iothub/#", None),
    ],
)
def test_a_module_subscribes_only_to_its_own_streams(topic_filter: str, expected: str | None) -> None:
    assert topics.allowed_subscription(MODULE, topic_filter) == expected


def test_a_device_subscribes_to_its_cloud_to_device_queue() -> None:
    assert topics.allowed_subscription(DEVICE, "devices/leaf1/messages/devicebound/#") == "inputs"
    assert topics.allowed_subscription(DEVICE, "devices/leaf1/modules/x/inputs/#") is None


def test_classify_telemetry() -> None:
    kind = topics.classify_publish(MODULE, "devices/dev1/modules/filter/messages/events/%24.on=out&n=1")
    assert kind == topics.OutputPublish({"outputName": "out"}, {"n": "1"})
    assert topics.classify_publish(DEVICE, "devices/leaf1/messages/events/") == topics.OutputPublish({}, {})
    # Another identity's telemetry topic is not this one's to publish to.
    assert topics.classify_publish(MODULE, "devices/dev1/modules/other/messages/events/") is None


def test_classify_twin_and_method_topics() -> None:
    assert topics.classify_publish(MODULE, "$iothub/twin/GET/?$rid=42") == topics.TwinGet("42")
    assert topics.classify_publish(
        MODULE, "$iothub/twin/PATCH/properties/reported/?$rid=7&$version=3"
    ) == topics.ReportedPatch("7")
    assert topics.classify_publish(MODULE, "$iothub/methods/res/200/?$rid=r%201") == topics.MethodResponse("r 1", 200)


@pytest.mark.parametrize(
    "topic",
    [
        "$iothub/twin/GET/",  # no $rid
        "$iothub/twin/GET/?$rid=",
        "$iothub/twin/PATCH/properties/reported/?$version=1",
        "$iothub/methods/res/abc/?$rid=1",  # status not a number
        "$iothub/methods/res/²/?$rid=1",  # a digit int() refuses
        "$iothub/methods/res/200/",  # no $rid
        "$iothub/methods/POST/m/?$rid=1",  # the hub's to publish, not a module's
        "devices/dev1/modules/filter/inputs/in/",
        "",
    ],
)
def test_topics_a_module_may_not_publish(topic: str) -> None:
    assert topics.classify_publish(MODULE, topic) is None


def test_topics_the_hub_publishes() -> None:
    assert topics.twin_response_topic(200, "1") == "$iothub/twin/res/200/?$rid=1"
    assert topics.twin_response_topic(204, "a b", version=5) == "$iothub/twin/res/204/?$rid=a%20b&$version=5"
    assert topics.desired_patch_topic(12) == "$iothub/twin/PATCH/properties/desired/?$version=12"
    assert topics.method_request_topic("re start", "9") == "$iothub/methods/POST/re%20start/?$rid=9"
    assert topics.TWIN_RESPONSE_FILTER == "$iothub/twin/res/#"
    assert topics.DESIRED_PATCH_FILTER == "$iothub/twin/PATCH/properties/desired/#"
    assert topics.METHODS_FILTER == "$iothub/methods/POST/#"


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("hub.azure-devices.net/dev1/filter/?api-version=2021-04-12", ("hub.azure-devices.net", "dev1", "filter")),
        ("hub.azure-devices.net/leaf1/?api-version=2021-04-12", ("hub.azure-devices.net", "leaf1", None)),
        ("hub.azure-devices.net/dev1/filter", ("hub.azure-devices.net", "dev1", "filter")),
        ("hub.azure-devices.net", None),
        ("hub.azure-devices.net//filter/?api-version=1", None),
        ("a/b/c/d/?api-version=1", None),
        ("", None),
    ],
)
def test_parse_username(username: str, expected: tuple[str, str, str | None] | None) -> None:
    assert topics.parse_username(username) == expected
