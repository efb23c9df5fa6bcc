"""A crawl frontier in Redis shared by every process crawling one source (distributed mode).

scrapy-redis 0.9.1 pops a request out of Redis for good: a process killed with the request
in hand loses it. Here a popped request moves into its process's *in-flight* hash and leaves
it only once its page is saved (or it failed for good); a process that stops beating its
heartbeat key is taken to be dead and its in-flight requests go back to the queue. Keys, per
source (`<prefix>:<source id>`):

    pending         ZSET  encoded request -> -priority (the queue)
    seen            SET   12-byte request fingerprints (the duplicate filter)
    members         SET   ids of the processes crawling
    alive:<member>  STR   heartbeat, expires after the member TTL
    inflight:<m>    HASH  encoded request -> score: handed out, not yet durable
    pops            STR   requests handed out (the source's max_pages across processes)
    stats, reasons  HASH  summed Scrapy stats and close reasons of members that ended

Requests are pickled: Redis must be as private as the database (see docs/scaling.md).
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.settings import BaseSettings
from scrapy.utils.request import request_from_dict
from twisted.internet import task

from crawler.pipelines import BATCH_SECONDS, StorePipeline
from crawler.spiders.source import MIN_DOWNLOAD_DELAY
from crawler.store import retry_storage
from pipelines.errors import ConfigError

logger = logging.getLogger(__name__)

ENV_URL = "GREYWATCH_FRONTIER_URL"  # redis://host:port/db of the frontier (default: broker)
ENV_BROKER = "GREYWATCH_BROKER_URL"
ENV_PREFIX = "GREYWATCH_FRONTIER_PREFIX"
ENV_MEMBER_TTL = "GREYWATCH_MEMBER_TTL"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "greywatch:frontier"
# A member that has not beaten its heartbeat for this long is dead and its in-flight requests
# are handed to the others. Long enough for a busy reactor or a slow Redis, short enough that
# a killed machine's pages come back within a minute.
MEMBER_TTL_S = 30.0
# 12 bytes of the SHA-1 request fingerprint: collisions stay out of reach far beyond 10^9
# URLs (birthday bound near 2^48), at 60% of the memory of the full digest.
FINGERPRINT_BYTES = 12
META_TOKEN = "gw_frontier"  # request.meta key of the in-flight token (a small integer)
STAT_PREFIX = "greywatch/frontier/"
RUN_MARK = "run"  # key: the run the frontier serves (set by the queue task, gone when over)
# How often a member with nothing to do looks for new work in the shared queue (seconds).
WAKE_S = 0.5

_PUSH = """
if ARGV[3] == '1' and redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
return 1
"""
# A cap reached returns -1; an empty queue returns false.
_POP = """
local cap = tonumber(ARGV[1])
if cap > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= cap then return -1 end
local got = redis.call('ZPOPMIN', KEYS[1])
if #got == 0 then return false end
redis.call('HSET', KEYS[2], got[1], got[2])
redis.call('INCR', KEYS[3])
return got[1]
"""
# Hand one member's in-flight requests back to the queue (and forget the member): the dead,
# on a reap, or a member closing before it processed what it held.
_GIVE_BACK = """
local function give_back(m)
  local inflight = ARGV[1] .. ':inflight:' .. m
  local items = redis.call('HGETALL', inflight)
  for i = 1, #items, 2 do redis.call('ZADD', ARGV[1] .. ':pending', items[i + 1], items[i]) end
  redis.call('DEL', inflight)
  redis.call('SREM', ARGV[1] .. ':members', m)
  if #items > 0 then redis.call('DECRBY', ARGV[1] .. ':pops', #items / 2) end
  return #items / 2
end
local moved = 0
if ARGV[2] ~= '' then return give_back(ARGV[2]) end
for _, m in ipairs(redis.call('SMEMBERS', ARGV[1] .. ':members')) do
  if redis.call('EXISTS', ARGV[1] .. ':alive:' .. m) == 0 then moved = moved + give_back(m) end
end
return moved
"""
# pending, in flight across live members, whether the page cap is reached.
_COUNTS = """
local inflight = 0
for _, m in ipairs(redis.call('SMEMBERS', ARGV[1] .. ':members')) do
  inflight = inflight + redis.call('HLEN', ARGV[1] .. ':inflight:' .. m)
end
local cap = tonumber(ARGV[2])
local capped = 0
if cap > 0 and tonumber(redis.call('GET', ARGV[1] .. ':pops') or '0') >= cap then capped = 1 end
return {redis.call('ZCARD', ARGV[1] .. ':pending'), inflight, capped}
"""


@dataclass(frozen=True)
class FrontierConfig:
    """Where the frontier lives and how long a silent member counts as alive."""

    url: str = DEFAULT_REDIS
    prefix: str = DEFAULT_PREFIX
    member_ttl_s: float = MEMBER_TTL_S

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> FrontierConfig:
        """From GREYWATCH_FRONTIER_URL (else GREYWATCH_BROKER_URL), _PREFIX and _MEMBER_TTL."""
        env = dict(os.environ if env is None else env)
        url = env.get(ENV_URL) or env.get(ENV_BROKER) or DEFAULT_REDIS
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"{ENV_URL}: {url!r} is not a redis:// URL",
                hint="the frontier lives in Redis, e.g. redis://127.0.0.1:6379/0",
            )
        try:
            ttl = float(env.get(ENV_MEMBER_TTL) or MEMBER_TTL_S)
        except ValueError:
            ttl = -1.0
        if not 1.0 <= ttl < float("inf"):
            raise ConfigError(
                f"{ENV_MEMBER_TTL}: {env.get(ENV_MEMBER_TTL)!r} is not a number of seconds >= 1",
                hint=f"fix or unset {ENV_MEMBER_TTL}",
            )
        return cls(url, env.get(ENV_PREFIX) or DEFAULT_PREFIX, ttl)

    def to_settings(self) -> dict[str, Any]:
        """The Scrapy settings that carry this configuration into a crawl process."""
        return {
            "GREYWATCH_FRONTIER_URL": self.url,
            "GREYWATCH_FRONTIER_PREFIX": self.prefix,
            "GREYWATCH_MEMBER_TTL": self.member_ttl_s,
        }

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> FrontierConfig:
        """Read back what `to_settings` wrote."""
        return cls(
            settings.get("GREYWATCH_FRONTIER_URL") or DEFAULT_REDIS,
            settings.get("GREYWATCH_FRONTIER_PREFIX") or DEFAULT_PREFIX,
            settings.getfloat("GREYWATCH_MEMBER_TTL", MEMBER_TTL_S),
        )


@dataclass(frozen=True)
class Counts:
    """The state of a source's frontier: queued, in flight (live members), page cap reached."""

    pending: int
    inflight: int
    capped: bool


def connect(url: str) -> redis.Redis:
    """A Redis client that retries a dropped connection instead of failing the crawl."""
    return redis.Redis.from_url(
        url, socket_timeout=30, socket_connect_timeout=10, health_check_interval=30
    )


class Frontier:
    """One source's frontier in Redis: push, pop into in-flight, ack, give back, count."""

    def __init__(self, client: redis.Redis, prefix: str, source_id: str, member: str = "") -> None:
        self.r = client
        self.key = f"{prefix}:{source_id}"
        self.member = member or new_member_id()
        self._push = client.register_script(_PUSH)
        self._pop = client.register_script(_POP)
        self._give_back = client.register_script(_GIVE_BACK)
        self._counts = client.register_script(_COUNTS)

    def k(self, name: str) -> str:
        """The full Redis key of one of this frontier's structures."""
        return f"{self.key}:{name}"

    # -- queue --------------------------------------------------------------------------
    def push(self, data: bytes, score: float, fingerprint: bytes | None) -> bool:
        """Queue an encoded request unless its fingerprint was seen (None: never filtered)."""
        args = [fingerprint or b"", score, "1" if fingerprint is not None else "0", data]
        return bool(self._push(keys=[self.k("seen"), self.k("pending")], args=args))

    def pop(self, cap: int = 0) -> bytes | None:
        """The next request, now in this member's in-flight hash; None if empty or capped."""
        keys = [self.k("pending"), self.k(f"inflight:{self.member}"), self.k("pops")]
        got = self._pop(keys=keys, args=[cap])
        return got if isinstance(got, bytes) else None

    def ack(self, items: Iterable[bytes]) -> None:
        """These in-flight requests are done (page saved, or failed for good)."""
        items = list(items)
        if items:
            self.r.hdel(self.k(f"inflight:{self.member}"), *items)

    # -- membership -----------------------------------------------------------------------
    def join(self, ttl_s: float) -> None:
        """Register this member and beat its heartbeat once."""
        self.r.sadd(self.k("members"), self.member)
        self.beat(ttl_s)

    def beat(self, ttl_s: float) -> None:
        """Say this member is alive for another `ttl_s` seconds."""
        self.r.set(self.k(f"alive:{self.member}"), "1", px=int(ttl_s * 1000))

    def reap(self) -> int:
        """Give the in-flight requests of dead members back to the queue; how many."""
        return int(self._give_back(keys=[self.k("members")], args=[self.key, ""]))

    def leave(self) -> int:
        """Hand back what this member still holds and stop being a member."""
        moved = int(self._give_back(keys=[self.k("members")], args=[self.key, self.member]))
        self.r.delete(self.k(f"alive:{self.member}"))
        return moved

    def counts(self, cap: int = 0) -> Counts:
        """Queued and in-flight requests, and whether the page cap is reached."""
        pending, inflight, capped = self._counts(keys=[self.k("members")], args=[self.key, cap])
        return Counts(int(pending), int(inflight), bool(capped))

    def live_members(self) -> list[str]:
        """Members whose heartbeat has not expired."""
        members = [m.decode() for m in self.r.smembers(self.k("members"))]
        return [m for m in members if self.r.exists(self.k(f"alive:{m}"))]

    # -- run bookkeeping ------------------------------------------------------------------
    def add_stats(self, stats: dict[str, Any], reason: str) -> None:
        """Add a finished member's numeric Scrapy stats to the source's sums."""
        pipe = self.r.pipeline()
        for name, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if isinstance(value, int):
                pipe.hincrby(self.k("stats"), name, value)
            else:
                pipe.hincrbyfloat(self.k("stats"), name, value)
        pipe.hset(self.k("reasons"), self.member, reason)
        pipe.execute()

    def summed_stats(self) -> tuple[dict[str, float | int], dict[str, str]]:
        """(summed stats, member -> close reason) of the members that ended."""
        stats: dict[str, float | int] = {}
        for name, raw in self.r.hgetall(self.k("stats")).items():
            text = raw.decode()
            stats[name.decode()] = float(text) if "." in text or "e" in text else int(text)
        reasons = {m.decode(): r.decode() for m, r in self.r.hgetall(self.k("reasons")).items()}
        return stats, reasons

    def has_state(self) -> bool:
        """Whether an earlier run left a queue or seen-set to resume from."""
        return bool(self.r.exists(self.k("pending"), self.k("seen")))

    def reset(self) -> None:
        """Forget everything about this source's frontier (a fresh run starts)."""
        keys = list(self.r.scan_iter(match=f"{self.key}:*", count=1000))
        if keys:
            self.r.delete(*keys)

    def memory(self) -> dict[str, int]:
        """Bytes per structure (Redis MEMORY USAGE), for bench/scale.py and docs."""
        out = {}
        for name in ("pending", "seen"):
            out[name] = int(self.r.memory_usage(self.k(name), samples=0) or 0)
        return out


def new_member_id() -> str:
    """host:pid:random, unique per crawl process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Beater:
    """A daemon thread beating the member's heartbeat and reaping dead members: a thread, so
    a reactor blocked (a database retry) does not make the member look dead."""

    def __init__(self, frontier: Frontier, ttl_s: float) -> None:
        self.frontier, self.ttl_s = frontier, ttl_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="frontier-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.frontier.beat(self.ttl_s)
                moved = self.frontier.reap()
            except redis.RedisError as exc:  # Redis briefly away: try again next beat
                logger.warning("frontier heartbeat failed: %s", exc)
                continue
            if moved:
                logger.warning("frontier: %d requests of a dead member back in the queue", moved)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)


class RedisFrontierScheduler:
    """Scrapy scheduler over `Frontier`: every process crawling the source shares the queue
    and duplicate filter; pages are acknowledged once saved (see FrontierAck, FrontierStore).

    The crawl ends when the queue is empty and no live member holds a request (a request in
    another member's hands may still add links); the source's max_pages holds across members.
    """

    def __init__(self, crawler: Crawler, config: FrontierConfig) -> None:
        self.crawler, self.config = crawler, config
        self.client = connect(config.url)
        self.frontier: Frontier | None = None
        self.cap = 0
        self._tokens: dict[str, bytes] = {}  # token -> in-flight data
        self._waiting: dict[str, int] = {}  # token -> items not yet saved
        self._output_done: set[str] = set()
        self._url_tokens: dict[str, list[str]] = {}  # item URL -> tokens awaiting its save
        self._next_token = 0
        self._beater: _Beater | None = None
        self._waker: task.LoopingCall | None = None
        self.over = False  # the run this member was started for has ended
        crawler.gw_frontier = self  # type: ignore[attr-defined]  # found by the ack components
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.item_gone, signal=signals.item_dropped)
        crawler.signals.connect(self.item_gone, signal=signals.item_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisFrontierScheduler:
        return cls(crawler, FrontierConfig.from_settings(crawler.settings))

    # -- Scrapy scheduler interface -------------------------------------------------------
    def open(self, spider: Any) -> None:
        self.spider = spider
        self.frontier = Frontier(self.client, self.config.prefix, spider.source_id)
        self.cap = int(getattr(getattr(spider.source, "limits", None), "max_pages", 0) or 0)
        self.frontier.join(self.config.member_ttl_s)  # first: the run waits for members
        serving = self.client.get(self.frontier.k(RUN_MARK))
        if spider.run_id is not None and serving != str(spider.run_id).encode():
            # A member that started after its run was recorded: crawling now would start
            # the source over (the seen-set is gone). Do nothing and end.
            logger.warning(
                "frontier %s: run %s is over, nothing to do", self.frontier.key, spider.run_id
            )
            self.frontier.leave()
            self.over = True
            return
        moved = self.frontier.reap()
        if moved:
            logger.warning("frontier: %d requests of a dead member back in the queue", moved)
        self._beater = _Beater(self.frontier, self.config.member_ttl_s)
        self._beater.start()
        self._waker = task.LoopingCall(self._wake)
        self._waker.start(WAKE_S, now=False)
        logger.info(
            "frontier %s: member %s joined (%d queued)",
            self.frontier.key,
            self.frontier.member,
            self.frontier.counts().pending,
        )

    def _wake(self) -> None:
        """Waiting for other members' links, look again now and then instead of at Scrapy's
        5 s engine heartbeat (Scrapy has no public call for this: the engine slot's nextcall)."""
        nextcall = getattr(getattr(self.crawler.engine, "_slot", None), "nextcall", None)
        if nextcall is None or self.frontier is None:
            return
        try:
            if self.has_pending_requests():
                nextcall.schedule()
        except redis.RedisError:
            pass

    def close(self, reason: str) -> None:
        assert self.frontier is not None
        if self.over:
            return
        if self._waker is not None and self._waker.running:
            self._waker.stop()
        if self._beater is not None:
            self._beater.stop()
        stats = dict(self.crawler.stats.get_stats())
        self.frontier.add_stats(stats, reason)
        moved = self.frontier.leave()
        if moved:
            logger.info("frontier: %d unfinished requests handed back on close", moved)

    def has_pending_requests(self) -> bool:
        assert self.frontier is not None
        if self.over:
            return False
        counts = self.frontier.counts(self.cap)
        return counts.pending > 0 and not counts.capped

    def enqueue_request(self, request: Request) -> bool:
        assert self.frontier is not None
        if self.over:
            return False
        parent = request.meta.pop(META_TOKEN, None)  # a retry or redirect of a held request
        data = pickle.dumps(request.to_dict(spider=self.spider), protocol=5)
        fingerprint = None
        if not request.dont_filter:
            digest = self.crawler.request_fingerprinter.fingerprint(request)
            fingerprint = digest[:FINGERPRINT_BYTES]
        added = self.frontier.push(data, -request.priority, fingerprint)
        if parent is not None:  # the follow-up is queued: the original is done
            self._ack_token(parent)
        stats = self.crawler.stats
        stats.inc_value(STAT_PREFIX + ("enqueued" if added else "duplicates"))
        return added

    def next_request(self) -> Request | None:
        assert self.frontier is not None
        if self.over:
            return None
        data = self.frontier.pop(self.cap)
        if data is None:
            return None
        request = request_from_dict(pickle.loads(data), spider=self.spider)
        self._next_token += 1
        token = str(self._next_token)
        self._tokens[token] = data
        request.meta[META_TOKEN] = token
        self.crawler.stats.inc_value(STAT_PREFIX + "dequeued")
        return request

    # -- acknowledgements -----------------------------------------------------------------
    def _ack_token(self, token: str) -> None:
        data = self._tokens.pop(token, None)
        self._waiting.pop(token, None)
        self._output_done.discard(token)
        if data is not None and self.frontier is not None:
            self.frontier.ack([data])

    def item_seen(self, token: str, url: str) -> None:
        """A callback of the held request yielded a page item (saved later, in a batch)."""
        self._waiting[token] = self._waiting.get(token, 0) + 1
        self._url_tokens.setdefault(url, []).append(token)

    def output_done(self, token: str) -> None:
        """The callback's output is consumed: its links are queued; ack unless items wait."""
        if self._waiting.get(token, 0) > 0:
            self._output_done.add(token)
        else:
            self._ack_token(token)

    def failed(self, token: str) -> None:
        """The request failed for good (no response): nothing to keep."""
        self._ack_token(token)

    def items_done(self, urls: Iterable[str]) -> None:
        """These pages' items were saved (or given up on): ack requests with nothing left."""
        ready = []
        for url in urls:
            tokens = self._url_tokens.get(url)
            if not tokens:
                continue
            token = tokens.pop(0)
            if not tokens:
                del self._url_tokens[url]
            if token not in self._waiting:
                continue
            self._waiting[token] -= 1
            if self._waiting[token] <= 0 and token in self._output_done:
                ready.append(token)
        for token in ready:
            self._ack_token(token)

    def item_gone(self, item: Any, response: Any = None, **_: Any) -> None:
        """An item dropped or failed in the pipeline: it will never be saved."""
        url = getattr(item, "url", None)
        if url:
            self.items_done([url])

    # -- end of crawl ---------------------------------------------------------------------
    def spider_idle(self, spider: Any) -> None:
        """Stay open while the queue has work or another member holds a request."""
        assert self.frontier is not None
        if self.over:
            return
        flush = getattr(self.crawler, "gw_flush", None)
        if flush is not None:
            flush()  # a batch waiting in the pipeline holds our own acknowledgements
        self.frontier.reap()
        counts = self.frontier.counts(self.cap)
        if counts.capped:
            raise CloseSpider("closespider_pagecount")
        if counts.pending or counts.inflight:
            raise DontCloseSpider


def _scheduler(crawler: Crawler) -> RedisFrontierScheduler | None:
    return getattr(crawler, "gw_frontier", None)


class FrontierAck:
    """Spider middleware (outermost): counts a held request's items and, once its callback's
    output is consumed (its links queued), acknowledges it or leaves that to the saves."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierAck:
        return cls(crawler)

    def _see(self, token: str | None, out: Any) -> None:
        scheduler = _scheduler(self.crawler)
        if token is not None and scheduler is not None and not isinstance(out, Request):
            url = getattr(out, "url", None)
            if url:
                scheduler.item_seen(token, url)

    def _done(self, token: str | None) -> None:
        scheduler = _scheduler(self.crawler)
        if token is not None and scheduler is not None:
            scheduler.output_done(token)

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterable[Any]:
        token = response.meta.get(META_TOKEN) if response is not None else None
        try:
            for out in result:
                self._see(token, out)
                yield out
        finally:
            self._done(token)

    async def process_spider_output_async(self, response: Any, result: Any) -> Any:
        token = response.meta.get(META_TOKEN) if response is not None else None
        try:
            async for out in result:
                self._see(token, out)
                yield out
        finally:
            self._done(token)


class FrontierFailures:
    """Downloader middleware (outermost): a request that failed for good (retries spent,
    robots.txt, offsite) is acknowledged; it has no page to save."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FrontierFailures:
        return cls(crawler)

    def process_exception(self, request: Request, exception: BaseException) -> None:
        scheduler = _scheduler(self.crawler)
        token = request.meta.get(META_TOKEN)
        if scheduler is not None and token is not None:
            scheduler.failed(token)


class FrontierStore(StorePipeline):
    """StorePipeline that retries a batch while the database is unreachable and then
    acknowledges the batch's requests in the frontier: a page leaves Redis only once saved."""

    def open_spider(self) -> None:
        super().open_spider()
        self.crawler.gw_flush = self.flush  # type: ignore[attr-defined]
        # A batch is saved when it is old even if no new page arrives: its requests stay
        # in flight (and hold back the end of the crawl for every member) until then.
        self._timer = task.LoopingCall(self._flush_old)
        self._timer.start(BATCH_SECONDS, now=False)

    def _flush_old(self) -> None:
        if self.pending and time.monotonic() - self.oldest >= BATCH_SECONDS:
            self.flush()

    def close_spider(self) -> None:
        if self._timer.running:
            self._timer.stop()
        super().close_spider()

    def flush(self) -> None:
        urls = [record.url for record, _ in self.pending]
        super().flush()
        scheduler = _scheduler(self.crawler)
        if scheduler is not None and urls:
            scheduler.items_done(urls)

    def _save(self, batch: list[tuple[Any, Any]], per_page: bool) -> list[tuple[Any, Any]]:
        save = super()._save
        if per_page:  # reached only after a batch error that was not the connection
            return save(batch, per_page)
        return retry_storage(lambda: save(batch, per_page), stats=self.stats)


def distributed_overrides(base: BaseSettings, config: FrontierConfig) -> dict[str, Any]:
    """Scrapy settings for a crawl process that is one member of a distributed crawl."""
    spider_mw = {**base.getdict("SPIDER_MIDDLEWARES"), "crawler.frontier.FrontierAck": 1}
    downloader_mw = {
        **base.getdict("DOWNLOADER_MIDDLEWARES"),
        "crawler.frontier.FrontierFailures": 1,
        "crawler.politeness.SharedDomainRate": 2,
    }
    pipelines = {
        k: v
        for k, v in base.getdict("ITEM_PIPELINES").items()
        if k != "crawler.pipelines.StorePipeline"
    }
    pipelines["crawler.frontier.FrontierStore"] = 300
    extensions = {**base.getdict("EXTENSIONS"), "crawler.extensions.RunRecorder": None}
    return {
        **config.to_settings(),
        "SCHEDULER": "crawler.frontier.RedisFrontierScheduler",
        "SPIDER_MIDDLEWARES": spider_mw,
        "DOWNLOADER_MIDDLEWARES": downloader_mw,
        "ITEM_PIPELINES": pipelines,
        # The run is recorded by the queue task (crawler/tasks.py), from all members' stats.
        "EXTENSIONS": extensions,
        # max_pages holds across members (the frontier's pop counter), not per process.
        "CLOSESPIDER_PAGECOUNT": 0,
        # The gap between requests to a domain is kept by all members together
        # (crawler/politeness.py); each process's own delay would only add to it.
        "DOWNLOAD_DELAY": MIN_DOWNLOAD_DELAY,
    }


def wait_for_members(frontier: Frontier, bound_s: float, poll_s: float = 0.5) -> list[str]:
    """Wait until no live member is left (or `bound_s` passed); returns those still alive."""
    deadline = time.monotonic() + bound_s
    alive = frontier.live_members()
    while alive and time.monotonic() < deadline:
        time.sleep(poll_s)
        alive = frontier.live_members()
    return alive
