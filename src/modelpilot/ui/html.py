"""HTML building blocks of the dashboard: escaping, badges, tables, times, the page shell and the login page.

Everything that comes from data (model names, reasons, evidence, tokens' names) goes through :func:`esc`; the
functions that take already-built HTML say so (``*_html`` parameters). Pages load one stylesheet and one script from
``/ui/static/`` (the Content-Security-Policy allows nothing else), and a page's live sections are the elements with
``data-section``: the script replaces them with fresh HTML from the page's JSON endpoint.

Example:
    >>> badge("critical")
    '<span class="badge critical">critical</span>'
    >>> esc("<b>&")
    '&lt;b&gt;&amp;'
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from modelpilot._version import __version__

__all__ = ["badge", "esc", "figure", "login_page", "model_url", "page", "section", "table", "text", "when"]

_LEVELS = {"ok", "warning", "critical", "pass", "fail", "inconclusive", "skipped", "info", "muted"}


def esc(value: object) -> str:
    """Text made safe for HTML content and attribute values."""
    return escape(str(value), quote=True)


def model_url(name: str) -> str:
    """The page of a model, escaped for an ``href``.

    >>> model_url("credit risk")
    '/ui/models/credit%20risk'
    """
    return esc(f"/ui/models/{quote(name, safe='')}")


def badge(text: str, level: str | None = None) -> str:
    """A coloured label; ``level`` picks the colour (by default the text itself, when it names a level)."""
    chosen = level if level is not None else text
    cls = chosen if chosen in _LEVELS else "info"
    return f'<span class="badge {cls}">{esc(text)}</span>'


def when(seconds: float | None, *, date: bool = False) -> str:
    """A time (epoch seconds) as UTC ``HH:MM:SS`` (with the day in a tooltip, or shown with ``date``).

    >>> when(0.0), when(None)
    ('<time datetime="1970-01-01T00:00:00Z" title="1970-01-01 00:00:00 UTC">00:00:00</time>', '-')
    """
    if seconds is None:
        return "-"
    t = time.gmtime(seconds)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", t)
    full = time.strftime("%Y-%m-%d %H:%M:%S UTC", t)
    shown = time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", t)
    return f'<time datetime="{iso}" title="{full}">{shown}</time>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, cls: str = "", empty: str = "nothing yet") -> str:
    """A table; ``headers`` are text, each row's cells are HTML.

    >>> table(["a"], [["<b>1</b>"]])
    '<table class="grid"><thead><tr><th>a</th></tr></thead><tbody><tr><td><b>1</b></td></tr></tbody></table>'
    """
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    classes = f"grid {cls}".strip()
    return f'<table class="{esc(classes)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def text(value: str) -> str:
    """Text that may wrap inside a table cell (cells do not wrap by default).

    >>> text("a <b>")
    '<span class="text">a &lt;b&gt;</span>'
    """
    return f'<span class="text">{esc(value)}</span>'


def figure(title: str, chart_html: str, legend_html: str = "") -> str:
    """A chart with its caption (text) and legend (HTML)."""
    return f'<figure class="chart-box"><figcaption>{esc(title)}</figcaption>{chart_html}{legend_html}</figure>'


def section(key: str, title: str, inner_html: str, *, wide: bool = False, note: str = "") -> str:
    """A card whose body (``data-section=key``) the page script keeps up to date."""
    cls = "card wide" if wide else "card"
    subtitle = f'<p class="note">{esc(note)}</p>' if note else ""
    return (
        f'<section class="{cls}" id="{esc(key)}"><h2>{esc(title)}</h2>{subtitle}'
        f'<div data-section="{esc(key)}">{inner_html}</div></section>'
    )


def _nav(models: Sequence[str], current: str | None, user: str | None, links_shown: bool) -> str:
    links = [f'<a href="/ui" class="{"on" if current is None else ""}">Overview</a>'] if links_shown else []
    for name in models[:12]:
        on = "on" if name == current else ""
        links.append(f'<a href="{model_url(name)}" class="{on}">{esc(name)}</a>')
    who = ""
    if user is not None:
        who = (
            f'<form method="post" action="/ui/logout" class="logout"><span class="who">{esc(user)}</span>'
            '<button type="submit">Sign out</button></form>'
        )
    return (
        '<header class="top"><a class="brand" href="/ui"><img src="/ui/static/icon.svg" alt="" width="22" '
        'height="22">modelpilot</a>'
        f'<nav>{"".join(links)}</nav><span class="live" id="live" data-state="idle">live</span>{who}</header>'
    )


def page(
    title: str,
    body_html: str,
    *,
    poll: str | None = None,
    models: Sequence[str] = (),
    current: str | None = None,
    user: str | None = None,
    nav: bool = True,
) -> str:
    """A whole page; with ``poll``, the script refreshes its sections from that JSON endpoint every few seconds
    (``nav=False``: no links in the top bar, for pages shown before signing in)."""
    poll_attr = f' data-poll="{esc(poll)}"' if poll else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} - modelpilot</title>"
        '<link rel="icon" href="/ui/static/icon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/ui/static/style.css">'
        '<script src="/ui/static/app.js" defer></script></head>'
        f"<body{poll_attr}>{_nav(models, current, user, nav)}<main>{body_html}</main>"
        f"<footer>modelpilot {esc(__version__)} &middot; times in UTC &middot; "
        '<a href="/metrics">/metrics</a> &middot; <a href="/openapi.json">API</a></footer></body></html>'
    )


def login_page(*, next_path: str, message: str = "", required: bool = True) -> str:
    """The sign-in form: a token with role ``operate`` or ``admin``, sent once and kept in an HttpOnly cookie."""
    note = (
        "Sign in with an API token of role operate or admin (modelpilot token create --name NAME --role operate)."
        if required
        else "This server listens on a loopback address: the dashboard needs no token here. You may still sign in."
    )
    error = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    body = (
        '<div class="login card"><h1>Sign in</h1>'
        f'<p class="note">{esc(note)}</p>{error}'
        '<form method="post" action="/ui/login" autocomplete="off">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="token">API token</label>'
        '<input id="token" name="token" type="password" required autofocus spellcheck="false" '
        'placeholder="mp_...">'
        '<button type="submit">Sign in</button></form>'
        '<p class="note">The token is kept in a cookie only this site can read (HttpOnly, SameSite=Strict); '
        "scripts and API clients send it as <code>Authorization: Bearer</code> instead.</p></div>"
    )
    return page("Sign in", body, nav=False)
