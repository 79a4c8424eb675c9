"""Fuzzing S3's XML request bodies: the safe parser and what the handlers read from it
(CompleteMultipartUpload parts, DeleteObjects keys, Tagging, AccessControlPolicy, CORSConfiguration, the
tagging header).

Property: a value or S3Error (MalformedXML, MalformedACLError, InvalidArgument, InvalidTag...),
never another exception; DTDs and entities are refused before the parser sees them.
"""

from __future__ import annotations

import contextlib
from xml.sax.saxutils import escape

from hypothesis import example, given
from hypothesis import strategies as st

from stackbox.s3 import xml
from stackbox.s3.acl import document_grantees
from stackbox.s3.cors import parse_rules as parse_cors_rules
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import MAX_OBJECT_TAGS, tags_from_header, validated_tags
from stackbox.s3.multipart import _requested_parts

from .strategies import any_text, latin1_text, numberish

ROOTS = ["CompleteMultipartUpload", "Delete", "Tagging", "AccessControlPolicy", "CreateBucketConfiguration",
         "CORSConfiguration"]
CHILDREN = ["Part", "PartNumber", "ETag", "ChecksumCRC32", "ChecksumSHA256", "Object", "Key", "Quiet",
            "TagSet", "Tag", "Value", "AccessControlList", "Grant", "Grantee", "URI", "Permission",
            "LocationConstraint", "CORSRule", "AllowedOrigin", "AllowedMethod", "AllowedHeader",
            "ExposeHeader", "MaxAgeSeconds", "ID"]
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;">]><Delete><Object><Key>&lol2;</Key></Object></Delete>')


def _leaf() -> st.SearchStrategy[str]:
    value = st.one_of(any_text(30), numberish(12), st.sampled_from(["1", "10000", "10001", "0", "true",
                                                                    "http://acs.amazonaws.com/groups/global/AllUsers",
                                                                    "READ", "WRITE"]))
    return st.tuples(st.sampled_from(CHILDREN), value).map(
        lambda pair: f"<{pair[0]}>{escape(pair[1])}</{pair[0]}>")


def _element(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _leaf()
    children = st.lists(_element(depth - 1), max_size=4).map("".join)
    return st.one_of(_leaf(), st.tuples(st.sampled_from(CHILDREN), children).map(
        lambda pair: f"<{pair[0]}>{pair[1]}</{pair[0]}>"))


def xml_documents() -> st.SearchStrategy[bytes]:
    namespace = st.sampled_from(["", ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', ' xmlns:x="urn:x"'])
    children = st.lists(_element(3), max_size=6).map("".join)
    structured = st.tuples(st.sampled_from(ROOTS), namespace, children).map(
        lambda parts: f"<{parts[0]}{parts[1]}>{parts[2]}</{parts[0]}>".encode())
    mangled = st.tuples(structured, st.integers(0, 400), st.binary(max_size=8)).map(
        lambda parts: parts[0][:parts[1]] + parts[2] + parts[0][parts[1]:])
    return st.one_of(structured, mangled, st.binary(max_size=200))


def _read_everything(body: bytes) -> None:
    """What each handler extracts from its document, in-process."""
    for root_name in ROOTS:
        with contextlib.suppress(S3Error):
            root = xml.parse(body, root_name)
            if root_name == "CompleteMultipartUpload":
                _requested_parts(root)
            elif root_name == "Delete":
                xml.child_text(root, "Quiet", "false")
                [xml.required_text(node, "Key") for node in root.findall("Object")]
            elif root_name == "Tagging":
                tag_set = root.find("TagSet")
                if tag_set is not None:
                    validated_tags([(xml.required_text(tag, "Key"), xml.required_text(tag, "Value"))
                                    for tag in tag_set.findall("Tag")], 50)
            elif root_name == "CORSConfiguration":
                for rule in parse_cors_rules(root):
                    rule.allows("https://a.example", "GET", ["x-amz-date"])
    with contextlib.suppress(S3Error):
        document_grantees(body)


@given(xml_documents())
@example(BILLION_LAUGHS)
@example(b"<CORSConfiguration><CORSRule><AllowedOrigin>https://*.example</AllowedOrigin><AllowedMethod>GET"
         b"</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>"
         b"</CORSConfiguration>")
@example(b"<CompleteMultipartUpload><Part><PartNumber>\xc2\xb2</PartNumber><ETag>e</ETag></Part>"
         b"</CompleteMultipartUpload>")
@example(b"<CompleteMultipartUpload><Part><PartNumber>" + b"9" * 4301 + b"</PartNumber><ETag>e</ETag></Part>"
         b"</CompleteMultipartUpload>")
def test_xml_documents(body: bytes) -> None:
    _read_everything(body)


def test_entities_are_refused() -> None:
    try:
        xml.parse(BILLION_LAUGHS, "Delete")
    except S3Error as error:
        assert error.code == "MalformedXML"
    else:
        raise AssertionError("a document with a DTD was parsed")


@given(st.one_of(latin1_text(300), st.lists(st.tuples(any_text(140), any_text(270)), max_size=12).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs))))
def test_tagging_header(value: str) -> None:
    with contextlib.suppress(S3Error):
        tags = tags_from_header(value)
        assert len(tags) <= MAX_OBJECT_TAGS
