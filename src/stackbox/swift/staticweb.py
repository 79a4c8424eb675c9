"""Static websites from containers, as Swift's staticweb middleware serves them.

A container with `X-Container-Meta-Web-Index` or `-Web-Listings` answers anonymous GET/HEAD requests
(and token-bearing ones that send `X-Web-Mode: true`) as a website: a directory path without its
trailing slash is redirected (301) to the path with it; a directory is answered by its index object
or, with listings on, by an HTML listing (`-Web-Listings-CSS`, `-Web-Listings-Label`); an object
whose content type is the directory type (`-Web-Directory-Type`, `application/directory` by
default) and that holds at most one byte is a directory marker, not a page; errors are answered with
the `<status><-Web-Error>` object when there is one. Every object read and listing made on the
caller's behalf is authorized as the caller (a listing needs `.rlistings` from an anonymous one).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from stackbox.http import Response
from stackbox.storage.types import NoSuchContainer, NoSuchObject, ObjectListing
from stackbox.swift.acl import denied, may_read
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError
from stackbox.swift.headers import LISTING_LIMIT, is_true, iso_date, user_meta
from stackbox.swift.listing import ListingQuery, list_container
from stackbox.swift.tempurl import is_temp_url, parse_signature

Handler = Callable[[Call], Awaitable[Response]]
_DEFAULT_DIRECTORY_TYPE = "application/directory"
_LISTING_CONTENT_TYPE = "text/html; charset=UTF-8"


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    index: str
    error: str
    listings: str
    listings_css: str
    listings_label: str
    directory_type: str

    @classmethod
    def of(cls, meta: Mapping[str, str]) -> Site:
        def setting(name: str) -> str:
            return (user_meta(meta, f"web-{name}") or "").strip()

        return cls(setting("index"), setting("error"), setting("listings"), setting("listings-css"),
                   setting("listings-label"), setting("directory-type") or _DEFAULT_DIRECTORY_TYPE)

    @property
    def active(self) -> bool:
        return bool(self.index or self.listings)


async def applies(call: Call) -> bool:
    """Whether staticweb answers the request: a read of a container or an object, anonymous or in web
    mode, in a container configured as a website (or any container, for web mode's 404)."""
    if call.method not in ("GET", "HEAD") or not call.container:
        return False
    web_mode = is_true(call.headers.get("x-web-mode"))
    if not web_mode and ("x-auth-token" in call.headers or "x-storage-token" in call.headers):
        return False
    if web_mode and not call.obj:
        return True
    try:
        return (await _site(call)).active
    except NoSuchContainer:  # the normal handlers answer
        return False


async def _site(call: Call) -> Site:
    return Site.of(await call.storage.container_meta(call.account, call.container))


async def serve(call: Call, authenticate: Callable[[Call], Awaitable[None]], handler: Handler) -> Response:
    """Answer `call` as the website; `authenticate` authorizes the request itself as it would be
    without staticweb, `handler` serves an object read (GET or HEAD) of another path."""
    site = await _site(call)
    if call.obj or is_temp_url(call):
        await authenticate(call)  # an object path's or a TempURL's refusal is Swift's plain one
        return await (_object(call, site, handler) if call.obj else _container(call, site, handler))
    try:
        await authenticate(call)
    except SwiftError as refused:
        return await _error_page(call, site, refused, handler)
    return await _container(call, site, handler)


async def _container(call: Call, site: Site, handler: Handler) -> Response:
    if not site.active:
        raise SwiftError(404)  # web mode on a container that is no website
    if not call.request.path.endswith("/"):
        return _redirect_with_slash(call)
    if site.index:
        index = await _read(call, site.index, handler)
        if index is not None:
            index.headers.append(("Vary", "Accept"))
            return index
    return await _listing(call, site, "", handler)


async def _object(call: Call, site: Site, handler: Handler) -> Response:
    found = await _read(call, call.obj, handler)
    if found is not None and not _is_directory_marker(found, site):
        return found
    path_is_directory = call.request.path.endswith("/")
    if site.index:
        index = await _read(call, _child(call.obj, site.index), handler)
        if index is not None:
            return index if path_is_directory else _redirect_with_slash(call)
    if not path_is_directory:
        if await _may_list(call) and _has_entries(await _listed(call, call.obj + "/", limit=1)):
            return _redirect_with_slash(call)
        return await _error_page(call, site, SwiftError(404), handler)
    return await _listing(call, site, call.obj, handler)


def _child(directory: str, name: str) -> str:
    return f"{directory}{name}" if directory.endswith("/") else f"{directory}/{name}"


async def _read(call: Call, key: str, handler: Handler) -> Response | None:
    """The object `key` read as the caller (GET or HEAD, as asked); None if it does not exist (other
    errors propagate: Swift answers them as they are)."""
    if not await may_read(call, call.account, call.container):
        raise denied(call)
    try:
        return await handler(dataclasses.replace(call, obj=key))
    except NoSuchObject:
        return None
    except SwiftError as error:
        if error.status == 404:
            return None
        raise


def _is_directory_marker(response: Response, site: Site) -> bool:
    headers = {name.lower(): value for name, value in response.headers}
    length = headers.get("content-length", "0")
    return headers.get("content-type") == site.directory_type and (not length.isdigit() or int(length) <= 1)


async def _may_list(call: Call) -> bool:
    return await may_read(call, call.account, call.container, listing=True)


def _has_entries(listing: ObjectListing) -> bool:
    return bool(listing.objects or listing.prefixes)


async def _listed(call: Call, prefix: str, limit: int = LISTING_LIMIT) -> ObjectListing:
    query = ListingQuery(prefix=prefix, delimiter="/", limit=limit)
    return await list_container(call.storage, call.account, call.container, query)


async def _listing(call: Call, site: Site, prefix: str, handler: Handler) -> Response:
    label = _label(call, site)
    if not is_true(site.listings):
        disabled = SwiftError(404, _disabled_page(label, site, prefix), content_type=HTML)
        return await _error_page(call, site, disabled, handler)
    if not await _may_list(call):
        return await _error_page(call, site, denied(call), handler)
    listing = await _listed(call, prefix)
    if prefix and not _has_entries(listing):
        return await _error_page(call, site, SwiftError(404), handler)
    link_query, top = _temp_url_links(call)
    body = _listing_page(label, site, prefix, listing, link_query, len(prefix) > len(top)).encode()
    return _page(call, body, 200, [("Content-Type", _LISTING_CONTENT_TYPE)])


class Page(Response):
    """A page staticweb made (a listing): a TempURL serves it inline."""

    __slots__ = ()


def _page(call: Call, body: bytes, status: int, headers: list[tuple[str, str]]) -> Response:
    if call.method == "HEAD":
        return Page(b"", status, [*headers, ("content-length", str(len(body)))])
    return Page(body, status, headers)


def _temp_url_links(call: Call) -> tuple[str, str]:
    """(the query a listing's links carry, the prefix a TempURL is confined to): a prefix-based TempURL's
    own parameters, so that its holder can browse on; nothing for any other caller."""
    prefix = call.query.get("temp_url_prefix") if call.temp_url else None
    if prefix is None:
        return "", ""
    raw_signature = call.query.get("temp_url_sig", "")
    signature = parse_signature(raw_signature)[1].hex() if ":" in raw_signature else raw_signature
    parts = [f"temp_url_prefix={quote(prefix)}", f"temp_url_expires={quote(call.query['temp_url_expires'])}",
             f"temp_url_sig={signature}"]
    if "temp_url_ip_range" in call.query:
        parts.append(f"temp_url_ip_range={quote(call.query['temp_url_ip_range'])}")
    if "inline" in call.query:
        parts.append("inline")
    return "?" + "&amp;".join(parts), prefix


async def _error_page(call: Call, site: Site, error: SwiftError, handler: Handler) -> Response:
    """`error`, with the body (and headers) of the `<status><Web-Error>` object when there is one."""
    if site.error and await may_read(call, call.account, call.container):
        try:
            page = await _read(call, f"{error.status}{site.error}", handler)
        except SwiftError:
            page = None
        if page is not None and page.status < 300:
            page.status = error.status
            if error.status == 401:  # the challenge of Keystone's middleware, which answers every 401
                keystone = call.identity.settings.identity_url.removesuffix("/v3")
                page.headers.append(("Www-Authenticate", f'Keystone uri="{keystone}"'))
            return page
    raise error


def _redirect_with_slash(call: Call) -> Response:
    host = call.headers.get("host", "")
    location = f"http://{host}{quote(call.request.path)}/"
    body = b"<html><h1>Moved Permanently</h1><p>The resource has moved permanently.</p></html>"
    if call.method == "HEAD":  # Swift's HEAD redirect announces no body
        return Response(b"", 301, [("Content-Type", HTML), ("Location", location)])
    return Response(body, 301, [("Content-Type", HTML), ("Location", location)])


def _label(call: Call, site: Site) -> str:
    path = call.request.path
    if site.listings_label:
        return "{}/{}".format(site.listings_label, "/".join(path.split("/")[4:]))
    return path


def _css_path(site: Site, prefix: str) -> str:
    css = site.listings_css
    if css.startswith(("/", "http://", "https://")):
        return quote(css, ":/")
    return "../" * prefix.count("/") + quote(css)


def _head(label: str, site: Site, prefix: str, style: str) -> str:
    head = f"<title>Listing of {html.escape(label)}</title>\n"
    if site.listings_css:
        return head + f'  <link rel="stylesheet" type="text/css" href="{_css_path(site, prefix)}" />\n'
    return head + style


def _disabled_page(label: str, site: Site, prefix: str) -> str:
    style = ("  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n   p {font-size: 2}\n"
             "  </style>\n")
    page = "<!DOCTYPE html>\n<html>\n<head>\n" + _head(label, site, prefix, style)
    page += ("</head>\n<body>  <h1>Web Listing Disabled</h1>   <p>The owner of this web site has "
             "disabled web listing.   <p>If you are the owner of this web site, you can enable   web listing "
             "by setting X-Container-Meta-Web-Listings.</p>")
    if site.index:
        page += ("<h1>Index File Not Found</h1> <p>The owner of this web site has set  "
                 f"<b>X-Container-Meta-Web-Index: {site.index}</b>.  However, this file is not found.</p>")
    return page + " </body>\n</html>\n"


_LISTING_STYLE = ("  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n"
                  "   th {text-align: left; padding: 0px 1em 0px 1em;}\n   td {padding: 0px 1em 0px 1em;}\n"
                  "   a {text-decoration: none;}\n  </style>\n")
_EMPTY_CELLS = '    <td class="colsize">&nbsp;</td>\n    <td class="coldate">&nbsp;</td>\n   </tr>\n'


def _listing_page(label: str, site: Site, prefix: str, listing: ObjectListing, link_query: str,
                  parent: bool) -> str:
    escaped = html.escape(label)
    page = "<!DOCTYPE html>\n<html>\n <head>\n  " + _head(label, site, prefix, _LISTING_STYLE)
    page += (f' </head>\n <body>\n  <h1 id="title">Listing of {escaped}</h1>\n  <table id="listing">\n'
             '   <tr id="heading">\n    <th class="colname">Name</th>\n    <th class="colsize">Size</th>\n'
             '    <th class="coldate">Date</th>\n   </tr>\n')
    if parent:
        page += ('   <tr id="parent" class="item">\n'
                 f'    <td class="colname"><a href="../{link_query}">../</a></td>\n' + _EMPTY_CELLS)
    for subdir in listing.prefixes:
        name = subdir[len(prefix):]
        page += '   <tr class="item subdir">\n' + _name_cell(name, link_query) + _EMPTY_CELLS
    for entry in listing.objects:
        name = entry.key[len(prefix):]
        types = " ".join("type-" + html.escape(part.lower()) for part in entry.content_type.split("/"))
        modified = iso_date(entry.last_modified).split(".")[0].replace("T", " ")
        page += (f'   <tr class="item {types}">\n' + _name_cell(name, link_query)
                 + f'    <td class="colsize">{human_readable(entry.size)}</td>\n'
                 f'    <td class="coldate">{modified}</td>\n   </tr>\n')
    return page + "  </table>\n </body>\n</html>\n"


def _name_cell(name: str, link_query: str) -> str:
    return f'    <td class="colname"><a href="./{_href(name)}{link_query}">{html.escape(name)}</a></td>\n'


def _href(name: str) -> str:
    return quote(name).replace(".", "%2E")


def human_readable(value: int) -> str:
    """1048576 -> `1Mi`, rounding at each step as Swift's listing does."""
    amount = float(value)
    suffixes = "KMGTPEZY"
    index = -1
    while amount >= 1024 and index + 1 < len(suffixes):
        index += 1
        amount = round(amount / 1024)
    return f"{int(amount)}" if index == -1 else f"{round(amount)}{suffixes[index]}i"
