"""Reference data the generator draws from: names, nicknames, places, the catalogue.

Names come from maintained packages (Faker's en_GB name frequencies and the
``nicknames`` dataset), not from hand-typed lists; the product catalogue's
category tree ships as ``data/categories.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Category:
    code: str | None
    weight: float
    base_price: float
    brands: tuple[str, ...]


def _zipf_weights(n: int, offset: float = 8.0) -> list[float]:
    return [1.0 / (i + offset) for i in range(n)]


@lru_cache(maxsize=1)
def first_names() -> dict[str, tuple[list[str], list[float]]]:
    """First names by sex with popularity weights (list order is popularity order)."""
    from faker.providers.person.en_GB import Provider  # noqa: PLC0415

    out = {}
    for sex, names in (("F", Provider.first_names_female), ("M", Provider.first_names_male)):
        unique = list(dict.fromkeys(names))
        out[sex] = (unique, _zipf_weights(len(unique)))
    return out


@lru_cache(maxsize=1)
def surnames() -> tuple[list[str], list[float]]:
    """Surnames with their frequency in the British population (Faker en_GB)."""
    from faker.providers.person.en_GB import Provider  # noqa: PLC0415

    items = sorted(Provider.last_names.items(), key=lambda kv: -kv[1])
    return [k for k, _ in items], [float(v) for _, v in items]


@lru_cache(maxsize=1)
def postcode_areas() -> list[str]:
    from faker.providers.address.en_GB import Provider  # noqa: PLC0415

    return list(Provider.POSTAL_ZONES)


@lru_cache(maxsize=1)
def nickname_pairs() -> list[tuple[str, str]]:
    """(formal name, nickname) pairs, lower case, from the ``nicknames`` package's dataset."""
    text = resources.files("nicknames").joinpath("names.csv").read_text()
    rows = csv.DictReader(text.splitlines())
    return [(r["name1"].strip().lower(), r["name2"].strip().lower()) for r in rows if r["relationship"] == "has_nickname"]


STREET_SUFFIXES = ["Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens", "Crescent", "Court", "Place", "Grove", "Terrace", "Hill", "Park"]
TOWN_SUFFIXES = ["ton", "ford", "bury", "ham", "field", "ley", "worth", "by", "wick", "stead", "mouth", "bridge"]
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
EMAIL_PROVIDERS = [
    "gmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "yahoo.co.uk",
    "btinternet.com",
    "icloud.com",
    "sky.com",
    "live.co.uk",
    "googlemail.com",
    "aol.com",
]
EMAIL_PROVIDER_WEIGHTS = [34, 14, 12, 9, 8, 8, 5, 5, 3, 2]
TITLES = {"F": ["Mrs", "Ms", "Miss", "Dr"], "M": ["Mr", "Mr", "Mr", "Dr"]}


@lru_cache(maxsize=1)
def categories() -> list[Category]:
    text = resources.files("customer_identity").joinpath("data/categories.csv").read_text()
    out = []
    for row in csv.DictReader(text.splitlines()):
        brands = tuple(b for b in row["brands"].split(";") if b)
        out.append(Category(row["category_code"] or None, float(row["weight"]), float(row["base_price"]), brands))
    return out
