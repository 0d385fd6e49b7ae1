"""Where a webhook may be sent: the checks that keep a subscriber's URL from reaching into the
platform's own network (server-side request forgery).

Two checks, both needed:

- at registration, :func:`check_url` reads the URL alone: ``https`` (``http`` only when
  ``PC_WEBHOOK_ALLOW_HTTP``), no credentials in it, a host that is neither a ``localhost``
  name nor a literal address of a forbidden class — written in any of the forms a resolver
  accepts (``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``[::ffff:127.0.0.1]``);
- at send time, :func:`resolve` looks the host up and refuses when ANY of its addresses is
  forbidden; the sender then connects to the address it checked (the host name goes only in
  the ``Host`` header and TLS's SNI), so a name that resolves to a public address when checked
  and to 127.0.0.1 a moment later (DNS rebinding) never reaches 127.0.0.1.

The forbidden classes: loopback, private, link-local, multicast, reserved, unspecified and
every other non-global range (100.64.0.0/10, documentation and benchmark ranges), and IPv6
addresses that carry one of those in IPv4 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``,
Teredo, NAT64 ``64:ff9b::/96``).  ``PC_WEBHOOK_ALLOW_NETWORKS`` lets named networks through
(``127.0.0.1/32`` for a receiver on this host, an intranet range), every other address
still refused; ``PC_WEBHOOK_ALLOW_PRIVATE`` lifts the address checks altogether (a test rig).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localhost6",
                         "localhost6.localdomain6"})
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL = 2000
HINT = "（测试或内网接收方：PC_WEBHOOK_ALLOW_NETWORKS 列出允许的网段，如 127.0.0.1/32）"


def allowed_by(ip: IPAddress, networks: Sequence[str]) -> bool:
    """Whether ``ip`` lies in one of ``networks`` (PC_WEBHOOK_ALLOW_NETWORKS)."""
    return any(ip in ipaddress.ip_network(n) for n in networks if ipaddress.ip_network(n).version == ip.version)


class UrlRefused(Exception):
    """A webhook URL (or the address its host resolves to) that may not be called; the
    message says why, in Chinese."""


@dataclass(frozen=True)
class Target:
    """A checked URL, taken apart."""

    scheme: str
    host: str  # the name or address as written (IPv6 without brackets)
    port: int
    path: str  # path and query, what the request line carries
    host_header: str  # what the Host header says

    @property
    def literal(self) -> IPAddress | None:
        return literal_address(self.host)


def address_class(ip: IPAddress) -> str | None:
    """Why a webhook may not go to ``ip`` (Chinese), or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = address_class(embedded)
            if inner is not None:
                return f"内嵌 IPv4 {embedded} 的 IPv6 地址（{inner}）"
    checks = (
        (ip.is_unspecified, "未指定地址"),
        (ip.is_loopback, "回环地址"),
        (ip.is_link_local, "链路本地地址"),
        (ip.is_multicast, "组播地址"),
        (ip.is_private, "私有网络地址"),
        (ip.is_reserved, "保留地址"),
        (not ip.is_global, "非公网地址"),
    )
    for hit, label in checks:
        if hit:
            return label
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a literal stands for, in any form a resolver reads
    (``127.1``, ``0177.0.0.1``, ``0x7f000001``, ``2130706433``); None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, *, allow_http: bool, allow_private: bool, allow_networks: Sequence[str] = ()) -> Target:
    """The URL taken apart when a webhook may be registered for it; :class:`UrlRefused`
    saying why not otherwise.  Reads only the URL (no lookup: see :func:`resolve`)."""
    if not url or len(url) > MAX_URL:
        raise UrlRefused(f"网址长度应为 1–{MAX_URL} 个字符")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UrlRefused("网址不能包含空白、控制字符或反斜杠")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("网址格式不正确（端口或主机无效）") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlRefused(f"只能推送到 https 网址，不支持 {scheme or '无'} 协议")
    if scheme == "http" and not allow_http:
        raise UrlRefused("只能推送到 https 网址（未允许明文 http：PC_WEBHOOK_ALLOW_HTTP）")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("网址中不能包含用户名或密码")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("网址缺少主机名")
    if port == 0:
        raise UrlRefused("端口不能为 0")
    if parts.fragment:
        raise UrlRefused("网址不能包含片段（#…）")
    if not allow_private:
        refuse_host(host, allow_networks)
    elif literal_address(host) is None and not _valid_name(host):
        raise UrlRefused("主机名格式不正确")
    return _target(parts, scheme, host, port)


def refuse_host(host: str, allow_networks: Sequence[str] = ()) -> None:
    """A host name or literal that is refused before any lookup."""
    name = host.lower().rstrip(".")
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        raise UrlRefused(f"不能推送到本机名称 {host}（本机的接收方请写地址，如 127.0.0.1）{HINT}")
    ip = literal_address(name)
    if ip is not None:
        why = address_class(ip)
        if why is not None and not allowed_by(ip, allow_networks):
            raise UrlRefused(f"不能推送到{why} {ip}{HINT}")
        return
    if not _valid_name(name):
        raise UrlRefused("主机名格式不正确")
    if "." not in name:
        raise UrlRefused(f"主机名 {host} 不是完整域名（内网名称不能作为推送地址）")


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and all(
        0 < len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in label)
        for label in labels
    )


def _target(parts: SplitResult, scheme: str, host: str, port: int | None) -> Target:
    default = 443 if scheme == "https" else 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    netloc_host = f"[{host}]" if ":" in host else host
    header = netloc_host if port in (None, default) else f"{netloc_host}:{port}"
    return Target(scheme=scheme, host=host, port=port or default, path=path, host_header=header)


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def resolve(target: Target, *, allow_private: bool, allow_networks: Sequence[str] = (),
            resolver: Resolver | None = None) -> str:
    """The address to connect to for ``target``: its literal, or its host looked up now —
    refused (:class:`UrlRefused`) when any address the name has is forbidden, since the
    next lookup may give that one (DNS rebinding)."""
    literal = target.literal
    if literal is not None:
        addresses = [str(literal)]
    else:
        if not allow_private:
            refuse_host(target.host, allow_networks)
        try:
            addresses = (resolver or system_resolver)(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"无法解析主机名 {target.host}") from exc
        if not addresses:
            raise UrlRefused(f"无法解析主机名 {target.host}")
    if not allow_private:
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError as exc:
                raise UrlRefused(f"主机名 {target.host} 解析出无效地址") from exc
            why = address_class(ip)
            if why is not None and not allowed_by(ip, allow_networks):
                raise UrlRefused(f"主机名 {target.host} 解析到{why} {ip}，为防范 SSRF 不予推送{HINT}")
    return addresses[0]
