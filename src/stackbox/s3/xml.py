"""S3 XML documents: rendering responses and safely parsing request bodies.

Rendering builds strings directly (listings are hot paths). Parsing uses ElementTree after refusing
any DTD, so entity expansion attacks never reach the parser, and strips namespaces so that documents
with or without S3's xmlns parse alike.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from email.utils import formatdate
from xml.sax.saxutils import escape

from stackbox.http import Response
from stackbox.s3.errors import S3Error

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: Control documents (CompleteMultipartUpload with 10,000 parts is ~1 MiB) are capped here.
MAX_DOCUMENT_BYTES = 2 << 20
#: Characters outside XML 1.0's `Char` production: no parser accepts them, raw or as `&#x1;`.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def carries(value: str) -> bool:
    """Whether XML 1.0 can carry `value` as text (keys stored through Swift may hold control characters)."""
    # isprintable() (fast) is False for every character XML forbids: all are Cc, Cs or Cn.
    return value.isprintable() or _NOT_XML.search(value) is None


def element(name: str, value: object) -> str:
    """`<name>value</name>` with the value escaped (`str()` of non-strings, booleans as S3 spells them)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{text(str(value))}</{name}>"


def text(value: str) -> str:
    """`value` escaped; characters XML cannot carry are percent-encoded, so a document that echoes
    such a key stays well-formed (listings URL-encode whole pages instead, see `list.py`)."""
    if not carries(value):
        value = _NOT_XML.sub(_percent_encoded, value)
    return escape(value)


def _percent_encoded(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogatepass"))


def optional(name: str, value: object | None) -> str:
    return "" if value is None else element(name, value)


def document(root: str, children: Iterable[str], *, namespace: bool = True) -> bytes:
    xmlns = f' xmlns="{S3_NS}"' if namespace else ""
    return f'{XML_DECLARATION}<{root}{xmlns}>{"".join(children)}</{root}>'.encode()


def xml_response(root: str, children: Iterable[str], status: int = 200,
                 headers: Iterable[tuple[str, str]] | None = None) -> Response:
    return Response(document(root, children), status, headers, "application/xml")


def iso8601(epoch: float) -> str:
    """S3's timestamp format in XML bodies: `2026-11-29T01:57:39.000Z`. Whole seconds, as S3 keeps
    them: a listing must agree with the Last-Modified header (sync tools compare the two)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(epoch)))


def http_date(epoch: float) -> str:
    return formatdate(int(epoch), usegmt=True)


def etag_header(etag: str) -> str:
    return f'"{etag}"'


def parse(body: bytes, expected_root: str) -> ET.Element:
    """The root element of a client document, namespaces stripped; MalformedXML if it is not one."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise S3Error("MalformedXML")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise S3Error("MalformedXML")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML") from None
    for node in root.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.rsplit("}", 1)[1]
    if root.tag != expected_root:
        raise S3Error("MalformedXML")
    return root


def child_text(node: ET.Element, name: str, default: str | None = None) -> str | None:
    found = node.find(name)
    if found is None:
        return default
    return found.text or ""


def required_text(node: ET.Element, name: str) -> str:
    value = child_text(node, name)
    if value is None:
        raise S3Error("MalformedXML")
    return value
