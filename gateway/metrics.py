"""Prometheus metrics: one registry per gateway, read at scrape time, served at `/metrics`.

The gateway's components already count what ops want to see (market messages in and pushes out,
frames conflated per session, loop restarts, venue connection state, cache receive times). The
`GatewayCollector` reads those values when Prometheus scrapes, so the hot paths do no extra work for
metrics. Metrics that need an observation on a hot path (tick-to-client latency, command-to-ack latency,
journal write latency) are histograms a component registers on the same registry:

    latency = metrics.histogram("gateway_order_ack_latency_seconds", "command to venue ack", ["venue"])
    latency.labels(venue).observe(seconds)

Labels are low-cardinality only: venue, symbol, kind, loop, state, code. Never order ids or client ids.
`Instruments` holds the gateway's own hot-path histograms and counters (created once per gateway).

Wiring (the composition root):

    metrics = Metrics()
    metrics.register(GatewayCollector(gateway))
    OpsServer(settings.http, ..., extra_routes=[metrics_route(metrics)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from gateway.core.enums import TERMINAL_STATUSES, ConnectionState, OrderStatus
from gateway.ops import PROTECTION_STATES, protection, venue_details

__all__ = ["LATENCY_BUCKETS", "GatewayCollector", "Instruments", "Metrics", "MetricsSource", "metrics_route"]

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

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        """Create a counter on this registry (`name` without `_total`; the exposition adds it)."""
        return Counter(name, documentation, labelnames, registry=self.registry)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """Return every metric and its content type, in the format the `Accept` header asks for.

        The Prometheus text format 0.0.4 unless OpenMetrics (or text 1.0.0) is asked for.
        """
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    async def handle(self, request: web.Request) -> web.Response:
        body, content_type = self.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})


class Instruments:
    """The gateway's hot-path observations, on one `Metrics` registry. Hand the bound methods to components.

    - `observe_tick(venue, seconds)`: a sampled trade's venue event time to its hand-off to the
      subscribed sessions (`gateway_market_tick_to_client_seconds`).
    - `observe_ack(venue, seconds)`: an order placement, from the command to the venue's answer
      (`gateway_order_ack_latency_seconds`).
    - `count_reject(venue, code)`: a placement refused, by error code (`gateway_order_rejects_total`).
    - `observe_journal_write(seconds)`: one order-journal transaction (`gateway_journal_write_seconds`).
    """

    def __init__(self, metrics: Metrics):
        self.tick_to_client = metrics.histogram(
            "gateway_market_tick_to_client_seconds",
            "Venue event time of a sampled trade to its hand-off to the subscribed strategy sessions.",
            ["venue"],
        )
        self.order_ack = metrics.histogram(
            "gateway_order_ack_latency_seconds",
            "Order placement, from the command to the venue's answer (accepted or refused by the venue).",
            ["venue"],
        )
        self.journal_write = metrics.histogram(
            "gateway_journal_write_seconds", "One order-journal transaction (a batch of decisions)."
        )
        self.rejects = metrics.counter(
            "gateway_order_rejects", "Order placements refused, by the gateway or the venue, by error code.",
            ["venue", "code"],
        )

    def observe_tick(self, venue: str, seconds: float) -> None:
        self.tick_to_client.labels(venue).observe(seconds)

    def observe_ack(self, venue: str, seconds: float) -> None:
        self.order_ack.labels(venue).observe(seconds)

    def count_reject(self, venue: str, code: str) -> None:
        self.rejects.labels(venue, code).inc()

    def observe_journal_write(self, seconds: float) -> None:
        self.journal_write.observe(seconds)


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
    # Optional (read with getattr; None before start): OrderService (manager), BracketService (book),
    # VenueEventRouter (reconnects, bracket_repairs).
    orders: Any
    brackets: Any
    router: Any

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
        return [*self._market(), *self._strategies(), *self._loops(), *self._venues(), *self._orders(),
                *self._brackets()]

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

        def reconnects(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            counted = getattr(getattr(g, "router", None), "reconnects", {})
            for name in g.venues:
                yield [name], counted.get(name, 0)

        yield self._fill(
            CounterMetricFamily(
                "gateway_venue_reconnects",
                "Times a venue session went to reconnecting (its stream dropped).",
                labels=["venue"],
            ),
            reconnects,
        )

        def details(g: MetricsSource) -> Iterator[tuple[str, dict[str, Any]]]:
            now = g.clock.now_ms()
            for name, adapter in g.venues.items():
                yield name, venue_details(adapter, now)

        def optional_count(key: str) -> Callable[[MetricsSource], Iterator[tuple[list[str], float]]]:
            def samples(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
                for name, found in details(g):
                    if isinstance(found.get(key), int | float):
                        yield [name], found[key]

            return samples

        yield self._fill(
            CounterMetricFamily(
                "gateway_venue_user_stream_restarts",
                "Times the venue's user-data stream was re-established (venues with a user stream).",
                labels=["venue"],
            ),
            optional_count("user_stream_restarts"),
        )
        yield self._fill(
            CounterMetricFamily(
                "gateway_venue_listen_key_rotations",
                "Times a new listen key was taken for the user stream (venues with listen keys).",
                labels=["venue"],
            ),
            optional_count("listen_key_rotations"),
        )

        def limit_samples(field: str) -> Callable[[MetricsSource], Iterator[tuple[list[str], float]]]:
            def samples(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
                for name, found in details(g):
                    for limit in found.get("rate_limits") or ():
                        yield [name, _limit_kind(limit)], limit[field]

            return samples

        yield self._fill(
            GaugeMetricFamily(
                "gateway_venue_rate_limit_used",
                "Cost counted in the current window of a venue's REST limit (e.g. request weight per minute).",
                labels=["venue", "kind"],
            ),
            limit_samples("used"),
        )
        yield self._fill(
            GaugeMetricFamily(
                "gateway_venue_rate_limit", "The venue's REST limit per window.", labels=["venue", "kind"]
            ),
            limit_samples("limit"),
        )

    # --- orders ---------------------------------------------------------------------------------------

    def _orders(self) -> Iterator[Metric]:
        def open_orders(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            service = getattr(g, "orders", None)
            if service is None:
                return
            counts: dict[tuple[str, str], int] = {}
            for account in service.manager.accounts():
                for order in service.manager.open_orders(account):
                    key = (order.venue, order.status.value)
                    counts[key] = counts.get(key, 0) + 1
            for venue in g.venues:
                for status in _OPEN_STATUSES:
                    yield [venue, status], counts.pop((venue, status), 0)
            for (venue, status), count in counts.items():  # a venue no longer configured
                yield [venue, status], count

        yield self._fill(
            GaugeMetricFamily(
                "gateway_orders_open",
                "Open orders the order manager holds (external ones included), by venue and status.",
                labels=["venue", "state"],
            ),
            open_orders,
        )

        def journal_lag(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            service = getattr(g, "orders", None)
            if service is not None:
                yield [], service.journal_lag

        yield self._fill(
            GaugeMetricFamily(
                "gateway_journal_log_lag_batches",
                "Order-journal batches in the append log that SQLite has not applied yet.",
            ),
            journal_lag,
        )

    # --- brackets -------------------------------------------------------------------------------------

    def _brackets(self) -> Iterator[Metric]:
        def live(g: MetricsSource) -> list[Any]:
            service = getattr(g, "brackets", None)
            return [] if service is None else list(service.book.live())

        def by_state(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            if getattr(g, "brackets", None) is None:
                return
            counts: dict[tuple[str, str], int] = {}
            for bracket in live(g):
                key = (bracket.venue, bracket.state.value)
                counts[key] = counts.get(key, 0) + 1
            for venue in g.venues:
                for state in _LIVE_BRACKET_STATES:
                    yield [venue, state], counts.pop((venue, state), 0)
            for (venue, state), count in counts.items():
                yield [venue, state], count

        yield self._fill(
            GaugeMetricFamily(
                "gateway_brackets_open", "Live brackets (not ended), by venue and state.", labels=["venue", "state"]
            ),
            by_state,
        )

        def by_protection(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            if getattr(g, "brackets", None) is None:
                return
            counts: dict[tuple[str, str], int] = {}
            for bracket in live(g):
                key = (bracket.venue, protection(bracket))
                counts[key] = counts.get(key, 0) + 1
            for venue in g.venues:
                for state in PROTECTION_STATES:
                    yield [venue, state], counts.get((venue, state), 0)

        yield self._fill(
            GaugeMetricFamily(
                "gateway_brackets_protection",
                "Live brackets by how their legs cover the open position: protected, partial, unprotected, "
                "no_position, attention.",
                labels=["venue", "state"],
            ),
            by_protection,
        )

        def repairs(g: MetricsSource) -> Iterator[tuple[list[str], float]]:
            counted = getattr(getattr(g, "router", None), "bracket_repairs", {})
            for (venue, kind), count in list(counted.items()):
                yield [venue, kind], count

        yield self._fill(
            CounterMetricFamily(
                "gateway_bracket_repairs",
                "Repairs made by bracket reconciliation passes, by kind (learned_id, replaced_leg, ...).",
                labels=["venue", "kind"],
            ),
            repairs,
        )


_OPEN_STATUSES = tuple(s.value for s in OrderStatus if s not in TERMINAL_STATUSES)
_LIVE_BRACKET_STATES = ("pending_entry", "active", "partially_closed", "needs_attention")


def _limit_kind(limit: Mapping[str, Any]) -> str:
    # e.g. REQUEST_WEIGHT per 60 s -> "request_weight_60s"
    return f"{str(limit['kind']).lower()}_{int(limit['interval_ms']) // 1000}s"
