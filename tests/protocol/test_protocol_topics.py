"""Topics: building, parsing, and the subscriptions each side makes (SPEC.md section 2)."""

import pytest

from protocol import codec, subscriptions, topics
from protocol.errors import ProtocolError


def matches(topic_filter, topic):
    """MQTT topic-filter matching (+ one level, # the rest), to check subscriptions against topics."""
    want, got = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(got) or (level != "+" and level != got[i]):
            return False
    return len(want) == len(got)


def code_of(call, *args):
    with pytest.raises(ProtocolError) as info:
        call(*args)
    return info.value.code


@pytest.mark.parametrize("channel", topics.CHANNELS)
def test_topic_round_trips_through_parse_topic(channel):
    built = topics.topic("bb-0042", channel)
    assert built == f"mob/v1/bb-0042/{channel}"
    assert built.startswith(topics.PREFIX + "/")
    assert topics.parse_topic(built) == (1, "bb-0042", channel)


@pytest.mark.parametrize(
    ("device_id", "ok"),
    [
        ("bb-0042", True),
        ("abc", True),
        ("0-0", True),
        ("a" * 63, True),
        ("ab", False),
        ("a" * 64, False),
        ("-bb", False),
        ("BB-0042", False),
        ("bb_0042", False),
        ("bb.0042", False),
        ("bb/0042", False),
        ("bb+", False),
        ("bb#", False),
        ("bb 42", False),
        ("bü-42", False),
        (42, False),
        (None, False),
    ],
)
def test_device_id_syntax(device_id, ok):
    assert topics.is_device_id(device_id) is ok


def test_topic_refuses_bad_device_ids_and_channels():
    assert code_of(topics.topic, "BB", topics.HELLO) == "bad_device_id"
    assert code_of(topics.topic, "bb-0042", "gossip") == "unknown_channel"


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        ("mob/v1/bb-0042", "bad_topic"),
        ("mob/v1", "bad_topic"),
        ("", "bad_topic"),
        ("mobx/v1/bb-0042/hello", "bad_topic"),
        ("mob/1/bb-0042/hello", "bad_topic"),
        ("mob/v/bb-0042/hello", "bad_topic"),
        ("mob/v01/bb-0042/hello", "bad_topic"),
        ("mob/vx/bb-0042/hello", "bad_topic"),
        ("mob/v1/bb-0042/" + "x" * 300, "bad_topic"),
        (None, "bad_topic"),
        (b"mob/v1/bb-0042/hello", "bad_topic"),
        ("mob/v1/+/hello", "bad_device_id"),
        ("mob/v1//hello", "bad_device_id"),
        ("mob/v1/bb-0042/gossip", "unknown_channel"),
        ("mob/v1/bb-0042/hello/", "unknown_channel"),
        ("mob/v1/bb-0042/config", "unknown_channel"),
    ],
)
def test_parse_topic_rejects(topic, code):
    assert code_of(topics.parse_topic, topic) == code


def test_other_majors_parse_so_that_the_cloud_can_answer_them():
    # A v2 device may use channels v1 does not know; the cloud still learns where to send the error.
    assert topics.parse_topic("mob/v2/bb-0042/gossip") == (2, "bb-0042", "gossip")
    assert topics.topic("bb-0042", topics.ERROR, major=2) == "mob/v2/bb-0042/error"


def test_channels_and_message_types_map_one_to_one():
    assert set(topics.CHANNEL_TYPE) == set(topics.CHANNELS)
    assert set(topics.CHANNEL_TYPE.values()) == set(codec.TYPES)
    assert all(topics.TYPE_CHANNEL[t] == c for c, t in topics.CHANNEL_TYPE.items())
    assert set(topics.UPLINK).isdisjoint(topics.DOWNLINK)


def test_qos_and_retain_per_spec():
    assert {c for c, q in subscriptions.QOS.items() if q == 0} == {topics.HEARTBEAT}
    assert set(subscriptions.QOS) == set(topics.CHANNELS)
    assert set(subscriptions.RETAINED) == {topics.STATUS, topics.CONFIG_DESIRED, topics.OTA_OFFER}


def test_cloud_hears_every_uplink_of_every_major_and_no_downlink():
    filters = subscriptions.subscription(subscriptions.CLOUD)
    for major in (1, 2, 17):
        for channel in topics.UPLINK:
            assert any(matches(f, topics.topic("bb-0042", channel, major)) for f in filters), channel
    for channel in topics.DOWNLINK:
        assert not any(matches(f, topics.topic("bb-0042", channel)) for f in filters), channel


def test_cloud_subscription_for_one_device():
    filters = subscriptions.subscription(subscriptions.CLOUD, "bb-0042")
    assert any(matches(f, "mob/v1/bb-0042/telemetry") for f in filters)
    assert not any(matches(f, "mob/v1/bb-0043/telemetry") for f in filters)
    assert code_of(subscriptions.subscription, subscriptions.CLOUD, "BB") == "bad_device_id"


def test_device_subscribes_to_its_own_downlink_only():
    filters = subscriptions.subscription(subscriptions.DEVICE, "bb-0042")
    assert sorted(filters) == sorted(topics.topic("bb-0042", c) for c in topics.DOWNLINK)
    assert not any(matches(f, "mob/v1/bb-0043/cmd") for f in filters)
    assert code_of(subscriptions.subscription, subscriptions.DEVICE, None) == "bad_device_id"


def test_subscription_needs_a_known_side():
    with pytest.raises(ValueError, match="side"):
        subscriptions.subscription("broker")
