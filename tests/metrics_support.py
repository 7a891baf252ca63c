"""Reading a Prometheus exposition in the metrics tests: samples by name and labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition in the text format, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def of(registry: CollectorRegistry) -> Samples:
    """The samples a registry exposes now."""
    return parse(generate_latest(registry).decode("utf-8"))


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    """The values ``label`` takes among the samples called ``name``."""
    return {dict(ls)[label] for (n, ls), _ in samples.items() if n == name and label in dict(ls)}
