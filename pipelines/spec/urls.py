"""URL sources: syntax checked before any network use, and never echoed with secrets."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_USERINFO = re.compile(r"(?<=://)[^/?#@]*@")


def redact_url(url: str) -> str:
    """`url` without credentials: user:password and the query string become `***`."""
    text = _USERINFO.sub("***@", url)
    base, sep, _ = text.partition("?")
    return base + (sep + "***" if sep else "")


def url_problem(url: str) -> str | None:
    """Why `url` is not a usable https source (the message never quotes secrets), or None."""
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return "a URL cannot contain spaces or control characters"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError as exc:
        secret = _USERINFO.search(url)
        detail = str(exc)
        if secret and any(part and part in detail for part in re.split("[:@]", secret.group())):
            detail = "cannot be parsed"
        return f"malformed URL: {detail}"
    if parts.scheme != "https":
        return "URL sources must use https"
    if parts.username is not None or parts.password is not None:
        return "credentials in a URL are not allowed (the spec is committed); use a token-free URL"
    if not host:
        return "malformed URL: no host"
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        v6, _, rest = hostport[1:].partition("]")
        try:
            ipaddress.IPv6Address(v6)
        except ValueError:
            return "malformed URL: bad IPv6 address"
        if rest and not re.fullmatch(r":\d{1,5}", rest):
            return "malformed URL: bad port after the IPv6 address"
    elif not re.fullmatch(r"[^:]+(:\d{1,5})?", hostport) or not _HOST.fullmatch(host):
        return "malformed URL: bad host name"
    if port == 0:
        return "malformed URL: port 0"
    return None
