"""Prometheus metrics: one registry per gateway, read at scrape time, served at `/metrics`.

The gateway's components already count what ops want to see (market messages in and pushes out,
frames conflated per session, loop restarts, venue connection state, cache receive times). The
`GatewayCollector` reads those values when Prometheus scrapes, so the hot paths do no extra work for
metrics. Metrics that need an observation on a hot path (tick-to-client latency, command-to-ack latency,
journal write latency) are histograms a component registers on the same registry:

    latency = metrics.histogram("gateway_order_ack_latency_seconds", "command to venue ack", ["venue"])
    latency.labels(venue).observe(seconds)

Labels are low-cardinality only: venue, symbol, kind, loop, state. Never order ids or client ids.

Wiring (the composition root):

    metrics = Metrics()
    metrics.register(GatewayCollector(gateway))
    OpsServer(settings.http, ..., extra_routes=[metrics_route(metrics)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from gateway.core.enums import ConnectionState

__all__ = ["LATENCY_BUCKETS", "GatewayCollector", "Metrics", "MetricsSource", "metrics_route"]

# Seconds; from 100 us to 10 s, for latencies measured inside one host or to a venue.
LATENCY_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

# The cache entries whose age is reported, as (kind label, SymbolCache attribute holding the receive ms).
_CACHE_KINDS = (
    ("trade", "trade_ms"),
    ("bbo", "bbo_ms"),
    ("depth", "depth_ms"),
    ("ticker", "ticker_ms"),
    ("mark", "mark_ms"),
)


class Metrics:
    """The gateway's metrics registry (never the process-global one), and what serves it.

    Args:
        process: also export the standard `process_*` metrics (CPU, memory, open fds; Linux only).
    """

    def __init__(self, *, process: bool = True):
        self.registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=self.registry)

    def register(self, collector: Collector) -> None:
        """Add a collector. Raises ValueError when one of its metric names is already registered."""
        self.registry.register(collector)

    def histogram(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        """Create a histogram on this registry, for a component to observe on its own path."""
        return Histogram(name, documentation, labelnames, registry=self.registry, buckets=buckets)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """Return every metric and its content type, in the format the `Accept` header asks for.

        The Prometheus text format 0.0.4 unless OpenMetrics (or text 1.0.0) is asked for.
        """
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    async def handle(self, request: web.Request) -> web.Response:
        body, content_type = self.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})


def metrics_route(metrics: Metrics, path: str = "/metrics") -> web.RouteDef:
    """Return the aiohttp route serving `metrics` at `path`, for `OpsServer(extra_routes=[...])`."""
    return web.get(path, metrics.handle)


class _Clock(Protocol):
    def now_ms(self) -> int: ...


class MetricsSource(Protocol):
    """What the collector reads: the parts of `gateway.app.Gateway` it needs (duck-typed, read-only)."""

    clock: _Clock
    market: Any  # MarketService: messages_in, pushes_out, last_message_ms, cache
    api: Any  # StrategyServer: sessions(), session_count(), dropped_frames()
    supervisor: Any  # Supervisor: restarts, names()
    health: Any  # Health: problems
    venues: Mapping[str, Any]  # name -> VenueAdapter: state, instruments

    def readiness_problems(self) -> list[str]: ...


class GatewayCollector(Collector):
    """Read the gateway's own counters at scrape time and present them as Prometheus metrics.

    Metric names (all prefixed `gateway_`) are listed in docs/operations.md.
    """

    def __init__(self, source: MetricsSource):
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return _Families(None).build()

    def collect(self) -> Iterable[Metric]:
        return _Families(self._source).build()


class _Families:
    """Builds every family once; with no source it builds them empty (what `describe` needs)."""

    def __init__(self, source: MetricsSource | None):
        self._source = source

    def build(self) -> list[Metric]:
        return [*self._market(), *self._strategies(), *self._loops(), *self._venues()]

    def _fill(
        self, family: Metric, samples: Callable[[MetricsSource], Iterable[tuple[list[str], float]]]
    ) -> Metric:
        if self._source is not None:
            for labels, value in samples(self._source):
                family.add_metric(labels, value)
        return family

    # --- market data ----------------------------------------------------------------------------------

    def _market(self) -> Iterator[Metric]:
        yield self._fill(
            CounterMetricFamily(
                "gateway_market_messages_received", "Market-data events received from every venue."
            ),
            lambda g: [([], g.market.messages_in)],
        )
        yield self._fill(
            CounterMetricFamily(
                "gateway_market_pushes_sent",
                "Market-data frames handed to strategy sessions (one per subscriber).",
            ),
            lambda g: [([], g.market.pushes_out)],
        )

        def last_message_age(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            now = g.clock.now_ms()
            for venue, received_ms in list(g.market.last_message_ms.items()):
                yield [venue], max(0, now - received_ms) / 1000

        yield self._fill(
            GaugeMetricFamily(
                "gateway_market_last_message_age_seconds",
                "Seconds since the venue's latest market-data event.",
                labels=["venue"],
            ),
            last_message_age,
        )

        def cache_age(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            now = g.clock.now_ms()
            for venue, adapter in g.venues.items():
                for symbol in list(adapter.instruments):
                    entry = g.market.cache.get(venue, symbol)
                    if entry is None:
                        continue
                    for kind, attribute in _CACHE_KINDS:
                        received_ms = getattr(entry, attribute)
                        if received_ms:
                            yield [venue, symbol, kind], max(0, now - received_ms) / 1000

        yield self._fill(
            GaugeMetricFamily(
                "gateway_market_cache_age_seconds",
                "Age of the cached snapshot per configured symbol and data kind.",
                labels=["venue", "symbol", "kind"],
            ),
            cache_age,
        )

        def cache_stale(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            now = g.clock.now_ms()
            cache = g.market.cache
            for venue, adapter in g.venues.items():
                for symbol in list(adapter.instruments):
                    yield [venue, symbol], 0.0 if cache.is_warm(venue, symbol, now) else 1.0

        yield self._fill(
            GaugeMetricFamily(
                "gateway_market_cache_stale",
                "1 when a configured symbol's bbo or depth is missing or older than market.stale_after_ms.",
                labels=["venue", "symbol"],
            ),
            cache_stale,
        )

    # --- strategy sessions ----------------------------------------------------------------------------

    def _strategies(self) -> Iterator[Metric]:
        yield self._fill(
            GaugeMetricFamily("gateway_strategy_connections", "Open strategy WebSocket connections."),
            lambda g: [([], g.api.session_count())],
        )
        yield self._fill(
            GaugeMetricFamily(
                "gateway_strategy_connections_authenticated",
                "Open strategy connections that have authenticated.",
            ),
            lambda g: [([], sum(1 for s in g.api.sessions() if s.strategy is not None))],
        )
        yield self._fill(
            CounterMetricFamily(
                "gateway_strategy_frames_dropped",
                "Market-data frames conflated away on slow strategy connections (replaced by a newer frame).",
            ),
            lambda g: [([], g.api.dropped_frames())],
        )

    # --- supervised loops and health ------------------------------------------------------------------

    def _loops(self) -> Iterator[Metric]:
        yield self._fill(
            CounterMetricFamily(
                "gateway_loop_restarts",
                "Restarts of a supervised background loop after a crash.",
                labels=["loop"],
            ),
            lambda g: [([name], count) for name, count in list(g.supervisor.restarts.items())],
        )

        def running(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            live = set(g.supervisor.names())
            for name in sorted(live | set(g.supervisor.restarts) | set(g.health.problems)):
                yield [name], 1.0 if name in live else 0.0

        yield self._fill(
            GaugeMetricFamily(
                "gateway_loop_running", "1 while a supervised loop is running.", labels=["loop"]
            ),
            running,
        )

        def healthy(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            problems = g.health.problems
            for name in sorted(set(g.supervisor.names()) | set(g.supervisor.restarts) | set(problems)):
                yield [name], 0.0 if name in problems else 1.0

        yield self._fill(
            GaugeMetricFamily(
                "gateway_loop_healthy",
                "0 when a loop keeps crashing (it makes /ready fail).",
                labels=["loop"],
            ),
            healthy,
        )
        yield self._fill(
            GaugeMetricFamily(
                "gateway_ready", "1 when /ready answers 200: venues open, caches warm, loops healthy."
            ),
            lambda g: [([], 0.0 if g.readiness_problems() else 1.0)],
        )

    # --- venues ---------------------------------------------------------------------------------------

    def _venues(self) -> Iterator[Metric]:
        yield self._fill(
            GaugeMetricFamily("gateway_venue_up", "1 when the venue session is open.", labels=["venue"]),
            lambda g: [
                ([name], 1.0 if a.state is ConnectionState.OPEN else 0.0) for name, a in g.venues.items()
            ],
        )

        def states(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            for name, adapter in g.venues.items():
                for state in ConnectionState:
                    yield [name, state.value], 1.0 if adapter.state is state else 0.0

        yield self._fill(
            GaugeMetricFamily(
                "gateway_venue_state",
                "The venue session's connection state: 1 for the current state, 0 for the others.",
                labels=["venue", "state"],
            ),
            states,
        )
