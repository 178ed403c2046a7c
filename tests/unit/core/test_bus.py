from gateway.core.bus import StreamBus, StreamKey


class Recorder:
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, str, bool]] = []

    def deliver(self, frame: bytes, stream: str, conflatable: bool) -> None:
        self.frames.append((frame, stream, conflatable))


def test_each_name_is_encoded_once_and_delivered_to_every_holder() -> None:
    encodes: list[str] = []

    def encode(name: str, data: object) -> bytes:
        encodes.append(name)
        return f"{name}:{data}".encode()

    bus = StreamBus(encode)
    key = StreamKey("sim", "BTC/USDT", "trade")
    a, b, c = Recorder(), Recorder(), Recorder()
    bus.subscribe(key, "sim:BTC/USDT@trade", a)
    bus.subscribe(key, "sim:BTC/USDT@trade", b)
    bus.subscribe(key, "BTCUSDT@trade", c)
    assert bus.publish(key, 1, True) == 3
    assert sorted(encodes) == ["BTCUSDT@trade", "sim:BTC/USDT@trade"]
    assert a.frames == [(b"sim:BTC/USDT@trade:1", "sim:BTC/USDT@trade", True)]
    assert c.frames == [(b"BTCUSDT@trade:1", "BTCUSDT@trade", True)]


def test_unsubscribe_removes_empty_keys() -> None:
    bus = StreamBus(lambda n, d: b"")
    key = StreamKey("sim", "", "order")
    r = Recorder()
    bus.subscribe(key, "sim@order", r)
    assert bus.has_subscribers(key)
    bus.unsubscribe(key, "sim@order", r)
    assert not bus.has_subscribers(key)
    assert bus.publish(key, 1, False) == 0
    bus.unsubscribe(key, "sim@order", r)  # twice is harmless


def test_stream_key_renders_its_canonical_name() -> None:
    assert str(StreamKey("sim", "BTC/USDT", "trade")) == "sim:BTC/USDT@trade"
    assert str(StreamKey("gateway", "", "status")) == "gateway@status"
