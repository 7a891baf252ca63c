"""Sources, URL templates, settings and the demo sources of the aggregate endpoint (no I/O)."""

from __future__ import annotations

import pytest

from chinook_svc.aggregate.demo import demo_sources, local_base_url
from chinook_svc.aggregate.settings import AggregateSettings
from chinook_svc.aggregate.sources import (
    PlaceholderError,
    Source,
    UrlTemplate,
    parse_sources,
)


def filled(template: str, **values: str) -> str:
    """The wire form of ``template`` filled with ``values``."""
    return UrlTemplate.parse(template).fill(values).to_uri().to_text()


def test_parse_name_equals_url() -> None:
    """``NAME=URL`` splits on the first ``=``, so the URL may hold ``=`` itself."""
    source = Source.parse("albums=http://127.0.0.1:8080/api/albums?q=1&x={id:int}")
    assert source.name == "albums"
    assert source.template.text == "http://127.0.0.1:8080/api/albums?q=1&x={id:int}"
    assert source.template.names == frozenset({"id"})


@pytest.mark.parametrize(
    "spec",
    ["no-equals-sign", "=http://h/", "name=", "bad name=http://h/", "a/b=http://h/"],
)
def test_parse_rejects_malformed_specs(spec: str) -> None:
    """A spec without a valid name or URL is a ValueError at start-up."""
    with pytest.raises(ValueError):
        Source.parse(spec)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/x",  # only http and https
        "file:///etc/passwd",
        "http://{host}/x",  # placeholders never in the host...
        "http://h:{port}/x",  # ...the port,
        "{scheme}://h/x",  # ...the scheme,
        "http://h/x?{name}=1",  # ...query names,
        "http://h/x#{frag}",  # ...or the fragment
        "http://user:pw@h/x",  # no credentials
        "http://h/{id:float}",  # unknown type
        "http://h/{source}",  # reserved name
        "http://h/{id:int}/{id:str}",  # one name, two types
        "/relative/path",
    ],
)
def test_templates_rejected_at_start_up(url: str) -> None:
    """Templates that could let a value pick scheme, host or port are refused when configured."""
    with pytest.raises(ValueError):
        UrlTemplate.parse(url)


def test_values_are_encoded_inside_their_segment() -> None:
    """Slashes, ``?``, ``#`` and ``&`` in a value stay inside its path segment or query value."""
    assert filled("http://h/a/{p}/b", p="x/../y?z#w") == "http://h/a/x%2F..%2Fy%3Fz%23w/b"
    assert (
        filled("http://h/a?k={p}&n=1", p="1&admin=true#") == "http://h/a?k=1%26admin%3Dtrue%23&n=1"
    )


def test_a_value_never_changes_host_or_scheme() -> None:
    """Whatever the value, scheme, host and port of the filled URL are the configured ones."""
    template = UrlTemplate.parse("http://127.0.0.1:9/api/{p}?q={p}")
    for value in ["@evil.example", "..%2F..", "%2e%2e", "\\\\evil", "a:b@c", "évil"]:
        url = template.fill({"p": value})
        assert (url.scheme, url.host, url.port) == ("http", "127.0.0.1", 9)
        assert len(url.path) == 2


@pytest.mark.parametrize(
    ("template", "value", "reason"),
    [
        ("http://h/a/{p}", "..", "'.' or '..'"),
        ("http://h/a/{p}", ".", "'.' or '..'"),
        ("http://h/a/{p}", "http://evil.example/", "URL"),
        ("http://h/a/{p}", "line\nbreak", "control"),
        ("http://h/a/{p}", "", "1 to 256"),
        ("http://h/a/{p}", "x" * 257, "1 to 256"),
        ("http://h/a/{p:int}", "12abc", "integer"),
        ("http://h/a/{p:int}", "1" * 19, "integer"),
        ("http://h/a?q={p:json}", "//evil", None),
    ],
)
def test_bad_values_are_refused(template: str, value: str, reason: str | None) -> None:
    """Each type checks its values; ``json`` values are quoted instead (so the last one passes)."""
    parsed = UrlTemplate.parse(template)
    if reason is None:
        assert parsed.fill({"p": value}).get("q") == ['"//evil"']
        return
    with pytest.raises(PlaceholderError, match=reason) as caught:
        parsed.fill({"p": value})
    assert caught.value.parameter == "p"


def test_missing_value_is_named() -> None:
    """A placeholder without a value is an error naming it."""
    with pytest.raises(PlaceholderError, match="required") as caught:
        UrlTemplate.parse("http://h/{b}/{a}").fill({"b": "1"})
    assert caught.value.parameter == "a"


def test_json_placeholder_is_a_json_string_literal() -> None:
    """``{x:json}`` puts a quoted, escaped JSON string into a ``q`` filter."""
    url = UrlTemplate.parse('http://h/api/t?q={"val":{x:json}}').fill({"x": 'a"}b'})
    assert url.get("q") == ['{"val":"a\\"}b"}']


def test_int_placeholder_is_normalised() -> None:
    """``{id:int}`` writes the integer, not the text as given."""
    assert filled("http://h/a/{id:int}", id="-007") == "http://h/a/-7"


def test_parse_sources_from_table_and_list() -> None:
    """A TOML table and a list of ``NAME=URL`` give the same sources; duplicates are refused."""
    table = parse_sources({"a": "http://h/a", "b": "http://h/b/{id}"})
    listed = parse_sources(["a=http://h/a", "b=http://h/b/{id}"])
    assert table == listed
    with pytest.raises(ValueError, match="twice"):
        parse_sources(["a=http://h/a", "a=http://h/b"])
    with pytest.raises(ValueError, match="string"):
        parse_sources({"a": 1})  # type: ignore[dict-item]


def test_settings_defaults() -> None:
    """2 s a call, 5 s a request, 1 MiB; 768 calls in all, 512 per client and per host."""
    settings = AggregateSettings()
    assert (settings.timeout, settings.deadline, settings.max_bytes) == (2.0, 5.0, 1 << 20)
    assert (settings.max_in_flight, settings.per_client, settings.per_host) == (768, 512, 512)
    assert settings.concurrency is None
    assert settings.sources == ()


def test_per_request_bound_covers_every_source() -> None:
    """Unset, the per-request bound is 100, or every source when there are more."""
    assert AggregateSettings().per_request == 100
    many = AggregateSettings.from_options([f"s{i}=http://h/{i}" for i in range(300)])
    assert many.per_request == 300
    assert AggregateSettings(sources=many.sources, concurrency=8).per_request == 8


def test_bounds_fit_the_open_file_limit() -> None:
    """Calls in flight get at most half the descriptors; nothing changes when they fit."""
    settings = AggregateSettings()
    assert settings.within_descriptors(20000) is settings
    fitted = settings.within_descriptors(1024)
    assert (fitted.max_in_flight, fitted.per_client, fitted.per_host) == (512, 512, 512)
    small = settings.within_descriptors(256)
    assert (small.max_in_flight, small.per_client, small.per_host) == (128, 128, 128)


def test_settings_from_table() -> None:
    """The ``[aggregate]`` table sets sources and limits; unknown keys are refused."""
    settings = AggregateSettings.from_table(
        {
            "sources": {"a": "http://h/a"},
            "timeout": 1,
            "deadline": 3.5,
            "max_bytes": 1000,
            "max_in_flight": 300,
            "per_client": 100,
            "per_host": 20,
        }
    )
    assert [s.name for s in settings.sources] == ["a"]
    assert (settings.timeout, settings.deadline, settings.concurrency, settings.max_bytes) == (
        1.0,
        3.5,
        None,
        1000,
    )
    assert (settings.max_in_flight, settings.per_client, settings.per_host) == (300, 100, 20)
    with pytest.raises(ValueError, match="unknown keys"):
        AggregateSettings.from_table({"timeuot": 1})
    with pytest.raises(ValueError, match="table or a list"):
        AggregateSettings.from_table({"sources": "a=http://h/"})


def test_settings_from_options_override_the_file() -> None:
    """Command-line values win over the file's; command-line sources replace the file's sources."""
    from_file = AggregateSettings.from_table({"sources": ["a=http://h/a"], "timeout": 1})
    settings = AggregateSettings.from_options(
        ["b=http://h/b"], deadline="2.5", concurrency="4", defaults=from_file
    )
    assert [s.name for s in settings.sources] == ["b"]
    assert (settings.timeout, settings.deadline, settings.concurrency) == (1.0, 2.5, 4)
    assert AggregateSettings.from_options(defaults=from_file) == from_file
    with pytest.raises(ValueError, match="unknown aggregate limits: concurency"):
        AggregateSettings.from_options(concurency=4)


@pytest.mark.parametrize(
    "limits",
    [{"timeout": 0}, {"deadline": -1}, {"concurrency": 0}, {"concurrency": 1.5},
     {"max_bytes": "lots"}, {"timeout": float("nan")}, {"timeout": True},
     {"max_in_flight": 0}, {"per_client": -3}, {"per_host": 2.5}],
)  # fmt: skip
def test_settings_refuse_bad_limits(limits: dict[str, object]) -> None:
    """Limits must be positive numbers (whole ones for counts)."""
    with pytest.raises(ValueError):
        AggregateSettings(**limits)  # type: ignore[arg-type]


def test_or_demo_only_without_sources() -> None:
    """The demo sources are used only when no source is configured."""
    configured = AggregateSettings.from_options(["a=http://h/a"])
    assert configured.or_demo("http://127.0.0.1:8080") is configured
    demo = AggregateSettings().or_demo("http://127.0.0.1:8080")
    assert [s.name for s in demo.sources] == ["artist", "albums", "tracks"]


def test_demo_sources_fill_to_the_own_api() -> None:
    """The demo calls the service's own API, with ``id`` only ever digits in the ``q`` JSON."""
    urls = {s.name: s.template.fill({"id": "1"}) for s in demo_sources("http://127.0.0.1:8080/")}
    assert urls["artist"].to_text() == "http://127.0.0.1:8080/api/artists/1"
    assert urls["albums"].to_text() == "http://127.0.0.1:8080/api/artists/1/albums"
    (q,) = urls["tracks"].get("q")
    assert '"op":"eq","val":1}' in q
    with pytest.raises(PlaceholderError):
        demo_sources("http://127.0.0.1:8080")[2].template.fill({"id": "1}]}"})


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("tcp:8080", "http://127.0.0.1:8080"),
        ("tcp:port=8081:interface=0.0.0.0", "http://127.0.0.1:8081"),
        ("tcp:8080:interface=127.0.0.2", "http://127.0.0.2:8080"),
        ("tcp6:8080", "http://[::1]:8080"),
        ("tcp6:port=8080:interface=\\:\\:1", "http://[::1]:8080"),
    ],
)
def test_local_base_url(listen: str, url: str) -> None:
    """The demo's base URL is the loopback address of the listen endpoint."""
    assert local_base_url(listen) == url


@pytest.mark.parametrize("listen", ["unix:/tmp/s", "tcp:0", "tcp:interface=127.0.0.1", "ssl:443"])
def test_local_base_url_needs_a_fixed_tcp_port(listen: str) -> None:
    """Without a fixed TCP port there is no URL for the demo to call."""
    with pytest.raises(ValueError):
        local_base_url(listen)
