"""StateStore on Redis (or Valkey): many processes, on many hosts, share one state.

redis-py is used here and nowhere else, for its connection (URL parsing, TLS for
`rediss://`, AUTH and SELECT) and its protocol parser; the calls are ours, on one
connection per process:

- A call that needs its answer (a sequence step, a rate-limit bucket, a credit hold) is
  one command or one Lua script, sent and read at once: one round trip, and every read
  and write that must not be split happens inside one script.
- A write nobody waits for (a journal entry, the release of a credit hold) is sent at
  once and its reply read later, with the next call, so it costs a request no round trip.

Key layout, under the prefix (`--state-prefix`, default `mockllm:`):

    count:<name>            sequence counters and cassette replay positions (INCR)
    text:<name>             values of `update` (compare-and-set script)
    bucket:<name>           rate-limit levels and when they were taken ("<levels…> <time>")
    balance:<name>          a credit balance, in whole units
    holds:<name>            hash: hold id → units held
    hold-expiry:<name>      sorted set: hold id → when it expires (ms, Redis time)
    doc:<kind>              hash: name → document
    doc-order:<kind>        sorted set: name → when it was put (doc-seq)
    journal                 list: entry ids, oldest first
    journal-entries         hash: entry id → the exchange as JSON
    settings                hash: run-time rules, chosen cassette (kept by reset)
    settings-version        counter: changes with every setting
    processes               counter: gives each process its number (kept by reset)
    applied                 hash: process number → "<settings version it applied> <when>"
                            (ms, Redis time; kept by reset)

When Redis does not answer, calls that need an answer raise `StateUnavailable` at once
(no waiting, no local copy of the state), writes nobody waits for are kept, and a thread
reconnects in the background; once it is back, the kept writes (each safe to apply twice)
are sent first. A credit hold whose script may or may not have run when the connection
broke is released in full when Redis is back: its request was refused, and it must not
keep the balance held until its expiry.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mockllm.errors import ConfigError, StateUnavailable
from mockllm.state import RECENT_TTL_S, Entry, Hold

T = TypeVar("T")
logger = logging.getLogger("mockllm.state")

CONNECT_TIMEOUT_S = 2.0  # the URL's ?socket_connect_timeout= overrides these
SOCKET_TIMEOUT_S = 2.0
RECONNECT_EVERY_S = 0.2
DRAIN_AFTER = 64  # unread replies before they are read without waiting
KEPT_WRITES = 100_000  # writes kept while Redis is away, at most (the oldest go first)
# Redis is there but cannot serve now (loading its data after a restart, a script
# running too long, a replica without its primary): treated as unreachable.
_NOT_READY = ("LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


# What `reset` deletes: every key of these families (`count:<name>`, ...) and these keys;
# the settings and the process counter stay.
_RESET_FAMILIES = ("count", "text", "bucket", "balance", "holds", "hold-expiry", "doc", "doc-order")
_RESET_KEYS = ("doc-seq", "journal", "journal-entries", "numbers")


class _NotReady(Exception):
    pass


_LOST = (RedisConnectionError, RedisTimeoutError, OSError, _NotReady)

# Hold expiries: give back holds whose time is up (at most 100 per call), into `left`.
_SWEEP = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local late = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms, 'LIMIT', 0, 100)
for _, id in ipairs(late) do
  local held = redis.call('HGET', KEYS[2], id)
  if held then left = left + tonumber(held) end
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local function int(x) return string.format('%.0f', x) end
"""

SCRIPTS = {
    # KEYS: counter. ARGV: seconds it is kept after its last use.
    "incr_recent": """
local value = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return value
""",
    # KEYS: bucket. ARGV: window_s, n, capacities…, needs…, the frozen time ('' none)
    "take": """
local window = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local frozen = ARGV[3 + 2 * n] ~= ''
local now
if frozen then
  now = tonumber(ARGV[3 + 2 * n])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local stored = redis.call('GET', KEYS[1])
local parts = {}
if stored then
  for p in string.gmatch(stored, '%S+') do parts[#parts + 1] = tonumber(p) end
end
local levels, ok = {}, true
for i = 1, n do
  local cap, need = tonumber(ARGV[2 + i]), tonumber(ARGV[2 + n + i])
  if stored then
    local elapsed = math.max(0, now - parts[n + 1])
    levels[i] = math.min(cap, parts[i] + elapsed * cap / window)
  else
    levels[i] = cap
  end
  if levels[i] < need then ok = false end
end
local out = {}
for i = 1, n do
  if ok then levels[i] = levels[i] - tonumber(ARGV[2 + n + i]) end
  out[i] = string.format('%.17g', levels[i])
end
out[n + 1] = string.format('%.17g', now)
if frozen then
  -- Time does not pass for it: it stays as it is until a reset.
  redis.call('SET', KEYS[1], table.concat(out, ' '))
else
  -- An idle bucket is full again after one window: it may go.
  redis.call('SET', KEYS[1], table.concat(out, ' '), 'PX', math.ceil(window * 1000) + 1000)
end
table.insert(out, 1, ok and '1' or '0')
return out
""",
    # KEYS: balance, holds, expiries. ARGV: start, fixed, unit, units ('' none), id, ttl_ms
    "reserve": _SWEEP
    + """
local fixed, unit, units = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if left <= 0 or left < fixed then
  if #late > 0 then redis.call('SET', KEYS[1], int(left)) end
  return false
end
if unit > 0 then
  local rest = left - fixed
  local most = math.floor(rest / unit)
  while most * unit > rest do most = most - 1 end
  while (most + 1) * unit <= rest do most = most + 1 end
  if units == nil or most < units then units = most end
end
local held = fixed + (units or 0) * unit
redis.call('SET', KEYS[1], int(left - held))
redis.call('HSET', KEYS[2], ARGV[5], int(held))
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[6]), ARGV[5])
return {int(held), units and int(units) or ''}
""",
    # KEYS: balance, holds, expiries. ARGV: id, spent
    "release": """
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then return false end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local spent = math.min(tonumber(ARGV[2]), tonumber(held))
local left = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(held) - spent
redis.call('SET', KEYS[1], string.format('%.0f', left))
return string.format('%.0f', left)
""",
    # KEYS: balance, holds, expiries. ARGV: start
    "balance": _SWEEP
    + """
if #late > 0 then redis.call('SET', KEYS[1], int(left)) end
return int(left)
""",
    # KEYS: text. ARGV: expected ('' with ARGV[3] = '0': unset), new, expected-is-set,
    # new-is-set. Compare and set: 1, or the current value to try again with.
    "swap": """
local current = redis.call('GET', KEYS[1])
local expected = nil
if ARGV[3] == '1' then expected = ARGV[1] end
if current == false then current = nil end
if current ~= expected then return {0, current or false} end
if ARGV[4] == '1' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return {1}
""",
    # KEYS: docs, order, seq. ARGV: name, value, limit
    "put_document": """
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - math.max(tonumber(ARGV[3]), 0)
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  for _, name in ipairs(old) do redis.call('HDEL', KEYS[1], name) end
end
return 1
""",
    # KEYS: docs. ARGV: name, value. Only a document that is there: 1, else 0.
    "replace_document": """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
""",
    # KEYS: docs, order. ARGV: name
    "delete_document": """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
""",
    # KEYS: journal, entries. ARGV: limit, then id and JSON of each entry added, in order.
    # Sent again after a lost connection: an entry already there is only updated.
    "journal_add": """
local limit = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 0 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  else
    local n = redis.call('RPUSH', KEYS[1], ARGV[i])
    for _ = 1, n - limit do redis.call('HDEL', KEYS[2], redis.call('LPOP', KEYS[1])) end
  end
end
return 1
""",
    # KEYS: entries. ARGV: id and JSON of each entry. One dropped from a full journal
    # stays out.
    "journal_update": """
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
""",
    # KEYS: journal, entries
    "journal": """
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
local out = {}
for i = 1, #ids, 500 do
  local part = {}
  for j = i, math.min(i + 499, #ids) do part[#part + 1] = ids[j] end
  local values = redis.call('HMGET', KEYS[2], unpack(part))
  for _, v in ipairs(values) do if v then out[#out + 1] = v end end
end
return out
""",
    # KEYS: settings, version. ARGV: name, value, is-set
    "put_setting": """
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return redis.call('INCR', KEYS[2])
""",
    # KEYS: settings, version. ARGV: name, expected, expected-is-set, new, new-is-set.
    # Compare and set, as "swap": the new version, or {0, the current value}.
    "swap_setting": """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local expected = nil
if ARGV[3] == '1' then expected = ARGV[2] end
if current == false then current = nil end
if current ~= expected then return {0, current or false} end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return {redis.call('INCR', KEYS[2])}
""",
    # KEYS: applied. ARGV: process number, settings version
    "put_applied": """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. string.format('%.0f', now_ms))
return 1
""",
    # KEYS: applied. ARGV: how long ago (ms) a process was last heard from to count.
    # The versions of those that count; the others (stopped) are dropped.
    "applied": """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local version, at = string.match(all[i + 1], '(%d+) (%d+)')
  if now_ms - tonumber(at) > tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = version
  end
end
return out
""",
    # KEYS: settings, version
    "settings": """
return {redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1])}
""",
    # ARGV: a glob for each family of keys a reset deletes
    "reset": """
for _, pattern in ipairs(ARGV) do
  local cursor = '0'
  repeat
    local found = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = found[1]
    for _, key in ipairs(found[2]) do redis.call('DEL', key) end
  until cursor == '0'
end
return 1
""",
}


def mask_url(url: str) -> str:
    """A Redis URL as it may appear in logs and messages: the password replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _pack(args: tuple[Any, ...]) -> bytes:
    """One command in Redis's protocol (RESP). redis-py's packer handles every type and
    takes about 8 µs for a journal entry; this one, for the types used here, about 1."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        elif isinstance(arg, float):
            arg = repr(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class _Kept:
    """A write nobody waits for, with what to do with its reply."""

    __slots__ = ("args", "on_reply")

    def __init__(self, args: tuple[Any, ...], on_reply: Callable[[Any], None] | None) -> None:
        self.args = args
        self.on_reply = on_reply


class RedisStore:
    """StateStore on one Redis connection per process."""

    is_shared = True

    def __init__(self, url: str, prefix: str = "mockllm:") -> None:
        self.url = url
        self.where = mask_url(url)
        self.prefix = prefix
        self._token = secrets.token_hex(6)  # this process, in hold and journal entry ids
        self._next = 0
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "socket_timeout": SOCKET_TIMEOUT_S,
        }
        try:
            self._pool = redis.ConnectionPool.from_url(url, **options)
        except ValueError as exc:
            raise ConfigError(f"--state {self.where}: {exc}") from None
        # redis-py takes a database it cannot read as a number for none (database 0, that
        # of every other server given no number): a typo would share another's state.
        database = urlsplit(url).path.strip("/")
        if url.lower().startswith("redis") and database and not database.isdigit():
            raise ConfigError(
                f"--state {self.where}: the database is a number (redis://HOST:PORT/DB), "
                f"found {database!r}"
            )
        self._lock = threading.RLock()
        self._conn: Any = None
        self._sha: dict[str, str] = {}
        self._unread: deque[_Kept] = deque()  # sent; replies not read yet, in order
        self._kept: deque[_Kept] = deque(maxlen=KEPT_WRITES)  # to send once Redis is back
        # Journal entries added or finished in this event-loop pass, sent at its end.
        self._added: list[tuple[Entry, str]] = []
        self._updated: list[tuple[Entry, str]] = []
        self._limit = 0
        self._flush_due = False
        self._entry_ids: OrderedDict[int, tuple[Entry, str]] = OrderedDict()
        self._down: str | None = None  # why Redis is unreachable, while it is
        self._closed = False
        self._reconnecting = False
        self._refusal: str | None = None  # the last refusal logged
        try:
            self._conn = self._connect()
        except AuthenticationError as exc:  # reached, but not let in
            if urlsplit(url).password is None:
                raise ConfigError(
                    f"--state {self.where}: Redis asks for a password and the URL gives none "
                    "(redis://[USER]:PASSWORD@HOST:PORT/DB)"
                ) from None
            raise ConfigError(f"--state {self.where}: Redis refused the login: {exc}") from None
        except _LOST as exc:
            raise ConfigError(f"--state {self.where}: cannot reach Redis: {exc}") from None
        except ResponseError as exc:
            raise ConfigError(f"--state {self.where}: Redis refused: {exc}") from None
        try:
            self.process_number = int(self._call("INCR", self._key("processes")))
        except StateUnavailable as exc:
            # An ACL that does not cover this server's keys, a read-only replica, no memory.
            self.close()
            if not exc.refused:
                raise ConfigError(
                    f"--state {self.where}: cannot reach Redis: {exc.cause}"
                ) from None
            raise ConfigError(
                f"--state {self.where}: Redis refused: {exc.cause} (every key this server "
                f"writes starts with {prefix!r})"
            ) from None

    # --- the connection ----------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _connect(self) -> Any:
        conn: Any = self._pool.make_connection()
        conn.connect()
        conn.send_command("PING")
        conn.read_response()
        for name, body in SCRIPTS.items():
            conn.send_command("SCRIPT", "LOAD", body)
            self._sha[name] = conn.read_response().decode()
        return conn

    def _lost(self, exc: BaseException) -> StateUnavailable:
        """Note that Redis went away; keep what was sent and not answered; reconnect."""
        cause = str(exc) or type(exc).__name__
        if self._down is None:
            logger.warning(
                "state store %s unreachable (%s): requests that need state get 503 "
                "until it is back",
                self.where,
                cause,
            )
        self._down = cause
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.disconnect()
            except Exception:  # noqa: BLE001 - already broken
                pass
        # Writes sent but not answered may or may not have been applied: each is safe to
        # apply twice, so they are sent again.
        self._kept.extend(self._unread)
        self._unread.clear()
        self._start_reconnecting()
        return StateUnavailable(self.where, cause)

    def _refused(self, exc: ResponseError) -> StateUnavailable:
        """Redis is there but refuses a command (out of memory under `noeviction`, a
        replica that became read-only, an ACL): the request that needed it gets a 503
        naming why, as when Redis is away, and the next command is tried as usual."""
        cause = str(exc) or type(exc).__name__
        if cause != self._refusal:
            self._refusal = cause
            logger.warning(
                "state store %s refused a command (%s): requests that need state get 503 "
                "until it takes them",
                self.where,
                cause,
            )
        return StateUnavailable(self.where, cause, refused=True)

    def _start_reconnecting(self) -> None:
        if self._reconnecting or self._closed:
            return
        self._reconnecting = True
        thread = threading.Thread(target=self._reconnect, name="mockllm-state", daemon=True)
        thread.start()

    def _reconnect(self) -> None:
        while not self._closed:
            time.sleep(RECONNECT_EVERY_S)
            try:
                conn = self._connect()
            except (*_LOST, ResponseError):
                continue
            with self._lock:
                self._conn = conn
                try:
                    self._send_kept()
                except _LOST:
                    self._kept.extend(self._unread)
                    self._unread.clear()
                    conn.disconnect()
                    self._conn = None
                    continue
                self._down = None
                self._reconnecting = False
            logger.warning("state store %s reachable again", self.where)
            return
        self._reconnecting = False

    def _send_kept(self) -> None:
        kept = list(self._kept)
        self._kept.clear()
        if not kept:
            return
        packed = b"".join(_pack(self._script_args(k.args)) for k in kept)
        try:
            self._conn.send_packed_command([packed], check_health=False)
        except _LOST:
            self._kept.extendleft(reversed(kept))
            raise
        self._unread.extend(kept)
        while self._unread:
            self._dispatch(self._unread[0], self._read())
            self._unread.popleft()

    def _script_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if args and args[0] in SCRIPTS:
            name, keys, argv = args
            return ("EVALSHA", self._sha[name], len(keys), *keys, *argv)
        return args

    def _read(self) -> Any:
        try:
            return self._conn.read_response()
        except ResponseError as exc:
            if str(exc).startswith(_NOT_READY):
                raise _NotReady(str(exc)) from None
            return exc

    def _dispatch(self, kept: _Kept, reply: Any) -> None:
        if isinstance(reply, ResponseError):
            if str(reply).startswith("NOSCRIPT"):
                self._sha.clear()
                self._kept.append(kept)
                return
            logger.error("state store write failed: %s", reply)
            return
        if kept.on_reply is not None:
            kept.on_reply(reply)

    def _ready(self) -> None:
        if self._down is not None:
            raise StateUnavailable(self.where, self._down)
        if not self._sha:  # Redis forgot its scripts (SCRIPT FLUSH): load them again
            try:
                for name, body in SCRIPTS.items():
                    self._conn.send_command("SCRIPT", "LOAD", body)
                    self._sha[name] = self._conn.read_response().decode()
            except ResponseError as exc:
                self._sha.clear()
                raise self._refused(exc) from None
            self._send_kept()

    def _call(self, *args: Any) -> Any:
        """Send a command (or `(script, keys, argv)`) and return its reply: one round trip
        (replies to earlier writes, already on their way, are read first)."""
        with self._lock:
            try:
                self._flush_journal()  # a read sees what this process wrote before it
                self._ready()
                conn = self._conn
                conn.send_packed_command([_pack(self._script_args(args))], False)
                while self._unread:
                    self._dispatch(self._unread[0], self._read())
                    self._unread.popleft()
                reply = self._read()
            except _LOST as exc:
                raise self._lost(exc) from None
            if isinstance(reply, ResponseError):
                if str(reply).startswith("NOSCRIPT"):
                    self._sha.clear()
                    return self._call(*args)
                raise self._refused(reply)
            self._refusal = None
            return reply

    def _send(self, args: tuple[Any, ...], on_reply: Callable[[Any], None] | None = None) -> None:
        """Send a write nobody waits for; kept for later while Redis is away."""
        with self._lock:
            kept = _Kept(args, on_reply)
            if self._down is not None:
                self._kept.append(kept)
                return
            try:
                self._ready()
                conn = self._conn
                conn.send_packed_command([_pack(self._script_args(args))], False)
                self._unread.append(kept)
                if len(self._unread) >= DRAIN_AFTER:
                    while self._unread and conn.can_read(0):
                        self._dispatch(self._unread[0], self._read())
                        self._unread.popleft()
            except _LOST as exc:
                self._kept.append(kept)
                self._lost(exc)
            except StateUnavailable:
                self._kept.append(kept)

    # --- StateStore -------------------------------------------------------------------

    def incr(self, key: str) -> int:
        return int(self._call("INCR", self._key("count:" + key))) - 1

    def incr_recent(self, key: str) -> int:
        keys = (self._key("count:" + key),)
        return int(self._call("incr_recent", keys, (RECENT_TTL_S,))) - 1

    def counters(self, prefix: str) -> dict[str, int]:
        start = self._key("count:")
        names: list[bytes] = []
        cursor: Any = b"0"
        while True:
            cursor, found = self._call(
                "SCAN", cursor, "MATCH", _glob_escape(start + prefix) + "*", "COUNT", 1000
            )
            names += found
            if int(cursor) == 0:
                break
        if not names:
            return {}
        values = self._call("MGET", *names)
        return {
            name.decode()[len(start) :]: int(value)
            for name, value in zip(names, values, strict=True)
            if value is not None
        }

    def update(self, key: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        name = self._key("text:" + key)
        raw = self._call("GET", name)
        while True:
            old = raw.decode() if raw is not None else None
            new, result = change(old)
            argv = (old or "", new or "", "0" if old is None else "1", "0" if new is None else "1")
            reply = self._call("swap", (name,), argv)
            if int(reply[0]) == 1:
                return result
            raw = reply[1] if len(reply) > 1 else None

    def take(
        self,
        key: str,
        capacity: tuple[float, ...],
        need: tuple[float, ...],
        window_s: float,
        now: float,
        frozen: bool = False,
    ) -> tuple[bool, tuple[float, ...]]:
        argv = (window_s, len(capacity), *capacity, *need, repr(now) if frozen else "")
        reply = self._call("take", (self._key("bucket:" + key),), argv)
        return reply[0] == b"1", tuple(float(x) for x in reply[1 : len(capacity) + 1])

    def next_number(self) -> int:
        return int(self._call("INCR", self._key("numbers")))

    def _credit_keys(self, key: str) -> tuple[str, str, str]:
        return (
            self._key("balance:" + key),
            self._key("holds:" + key),
            self._key("hold-expiry:" + key),
        )

    def reserve(
        self, key: str, start: int, fixed: int, unit: int, units: int | None, ttl_s: float
    ) -> Hold | None:
        with self._lock:
            self._next += 1
            hold_id = f"{self._token}.{self._next}"
        argv = (start, fixed, unit, "" if units is None else units, hold_id, int(ttl_s * 1000))
        try:
            reply = self._call("reserve", self._credit_keys(key), argv)
        except StateUnavailable:
            # The script may have run before the connection broke: give the hold back
            # once Redis is back (a hold that is not there is nothing to give back).
            self._send(("release", self._credit_keys(key), (hold_id, 0)))
            raise
        if reply is None:
            return None
        held, granted = reply
        return Hold(key, hold_id, int(held), int(granted) if granted else None)

    def release(self, hold: Hold, spent: int) -> int | None:
        # Not waited for: the request is answered already. While Redis is away it is kept
        # and sent when it is back (a release is safe to apply twice: the second finds
        # no hold).
        self._send(("release", self._credit_keys(hold.key), (hold.id, max(0, spent))))
        return None

    def balance(self, key: str, start: int) -> int:
        return int(self._call("balance", self._credit_keys(key), (start,)))

    def put_document(self, kind: str, name: str, value: bytes, limit: int) -> None:
        # Not waited for (kept while Redis is away), and sent before the answer that names
        # the document leaves: the next request, on any process, finds it.
        keys = (self._key("doc:" + kind), self._key("doc-order:" + kind), self._key("doc-seq"))
        self._send(("put_document", keys, (name, value, limit)))

    def get_document(self, kind: str, name: str) -> bytes | None:
        found = self._call("HGET", self._key("doc:" + kind), name)
        return bytes(found) if found is not None else None

    def replace_document(self, kind: str, name: str, value: bytes) -> bool:
        keys = (self._key("doc:" + kind),)
        return int(self._call("replace_document", keys, (name, value))) == 1

    def delete_document(self, kind: str, name: str) -> bool:
        keys = (self._key("doc:" + kind), self._key("doc-order:" + kind))
        return int(self._call("delete_document", keys, (name,))) > 0

    def document_names(self, kind: str) -> list[str]:
        return [
            name.decode() for name in self._call("ZRANGE", self._key("doc-order:" + kind), 0, -1)
        ]

    def journal_add(self, entry: Entry, limit: int) -> None:
        if limit <= 0:
            return
        with self._lock:
            self._next += 1
            entry_id = f"{self._token}.{self._next}"
            self._entry_ids[id(entry)] = (entry, entry_id)
            while len(self._entry_ids) > 4096:
                self._entry_ids.popitem(last=False)
            if self._flush_due:
                # Others of this event-loop pass wait for its end: one write for them all.
                self._added.append((entry, entry_id))
                self._limit = limit
                return
        # The first of a pass goes now, before its answer's last byte leaves: a client
        # that has its answer finds it in the journal, whichever process it asks. Only
        # when several exchanges end in one pass (under load) do the others wait for the
        # pass to end, a millisecond or so.
        keys = (self._key("journal"), self._key("journal-entries"))
        self._send(("journal_add", keys, (limit, entry_id, orjson.dumps(entry.to_json()))))
        self._flush_at_end_of_pass()

    def journal_update(self, entry: Entry) -> None:
        with self._lock:
            found = self._entry_ids.pop(id(entry), None)
            if found is None or found[0] is not entry:
                return
            self._updated.append(found)
        self._flush_at_end_of_pass()

    def _flush_at_end_of_pass(self) -> None:
        with self._lock:
            if self._flush_due:
                return
            self._flush_due = True
        try:
            asyncio.get_running_loop().call_soon(self._flush_journal_locked)
        except RuntimeError:  # no event loop in this thread: now
            self._flush_journal_locked()

    def _flush_journal_locked(self) -> None:
        with self._lock:
            self._flush_journal()

    def _flush_journal(self) -> None:
        """Send the journal entries added and finished in this pass, two commands in all."""
        self._flush_due = False
        added, self._added = self._added, []
        updated, self._updated = self._updated, []
        if added:
            keys = (self._key("journal"), self._key("journal-entries"))
            argv: list[Any] = [self._limit]
            for entry, entry_id in added:
                argv += (entry_id, orjson.dumps(entry.to_json()))
            self._send(("journal_add", keys, tuple(argv)))
        if updated:
            argv = []
            for entry, entry_id in updated:
                argv += (entry_id, orjson.dumps(entry.to_json()))
            self._send(("journal_update", (self._key("journal-entries"),), tuple(argv)))

    def journal(self) -> list[dict[str, Any]]:
        keys = (self._key("journal"), self._key("journal-entries"))
        return [orjson.loads(raw) for raw in self._call("journal", keys, ())]

    def journal_clear(self) -> None:
        self._call("DEL", self._key("journal"), self._key("journal-entries"))

    def journal_kept(self) -> list[Entry]:
        return []  # the journal is JSON in Redis; this process keeps no entry as an object

    def put_setting(self, name: str, value: str | None) -> None:
        keys = (self._key("settings"), self._key("settings-version"))
        argv = (name, value or "", "0" if value is None else "1")
        self._call("put_setting", keys, argv)

    def update_setting(self, name: str, change: Callable[[str | None], tuple[str | None, T]]) -> T:
        keys = (self._key("settings"), self._key("settings-version"))
        raw = self._call("HGET", keys[0], name)
        while True:
            old = raw.decode() if raw is not None else None
            new, result = change(old)
            argv = (
                name,
                old or "",
                "0" if old is None else "1",
                new or "",
                "0" if new is None else "1",
            )
            reply = self._call("swap_setting", keys, argv)
            if int(reply[0]) != 0:
                return result
            raw = reply[1] if len(reply) > 1 else None

    def settings(self) -> tuple[int, dict[str, str]]:
        keys = (self._key("settings"), self._key("settings-version"))
        version, flat = self._call("settings", keys, ())
        values = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        return int(version), values

    def settings_version(self) -> int:
        return int(self._call("GET", self._key("settings-version")) or 0)

    def put_applied(self, process: int, version: int) -> None:
        if self._down is None:  # a heartbeat: not kept for later while Redis is away
            self._send(("put_applied", (self._key("applied"),), (process, version)))

    def applied(self, alive_s: float) -> list[int]:
        found = self._call("applied", (self._key("applied"),), (int(alive_s * 1000),))
        return [int(version) for version in found]

    def reset(self) -> None:
        # Only this server's own families of keys (not `prefix*`): another server's prefix
        # may start with this one's (`mockllm:` and `mockllm:ci:`), and its keys stay.
        start = _glob_escape(self.prefix)
        families = [start + name + ":*" for name in _RESET_FAMILIES]
        exact = [start + _glob_escape(name) for name in _RESET_KEYS]
        self._call("reset", (), (*families, *exact))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            try:
                if self._conn is not None and self._down is None:
                    self._flush_journal()
                    while self._unread:
                        self._dispatch(self._unread.popleft(), self._read())
            except _LOST:
                pass
            if self._conn is not None:
                self._conn.disconnect()
                self._conn = None
            self._pool.disconnect()
