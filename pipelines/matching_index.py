"""The in-memory registry index name matching blocks on: USCC, exact name, brand core, bigrams.

Built from plain registration tuples, so analysis, storage and the benchmark share one index;
the database loader lives in storage/matching.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class RegRef:
    """The registration fields matching needs (the scope text stays in the database)."""

    id: int
    uscc: str
    name: str
    brand_core: str
    region: str
    status: str

    def as_candidate(self, score: float | None = None) -> dict[str, Any]:
        """This registration as a JSON-ready candidate row, with its score when scored."""
        d: dict[str, Any] = {
            "registration_id": self.id,
            "uscc": self.uscc,
            "name": self.name,
            "region": self.region,
            "status": self.status,
        }
        if score is not None:
            d["score"] = round(score, 1)
        return d


class RegistryIndex:
    """In-memory blocking index over registrations: USCC, exact name, brand core, bigrams.

    Columns are kept as parallel lists with interned region/status strings, so a million
    registrations fit in a few hundred megabytes.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.usccs: list[str] = []
        self.names: list[str] = []
        self.brands: list[str] = []
        self.regions: list[str] = []
        self.statuses: list[str] = []
        self.by_uscc: dict[str, int] = {}
        self.by_name: dict[str, int | list[int]] = {}
        self.by_brand: dict[str, int | list[int]] = {}
        # (brand, region) → rows: region evidence narrows a common brand in O(1).
        self.by_brand_region: dict[tuple[str, str], int | list[int]] = {}
        self._grams: dict[str, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, str, str, str, str, str]]) -> Self:
        """Build from (id, uscc, name, name_norm, brand_core, region, status) tuples."""
        index = cls()
        for row in rows:
            index.add(*row)
        return index

    def add(
        self, rid: int, uscc: str, name: str, name_norm: str, brand: str, region: str, status: str
    ) -> None:
        """Add one registration (brand cores and regions are interned: they repeat a lot)."""
        i = len(self.ids)
        self.ids.append(rid)
        self.usccs.append(uscc)
        self.names.append(name)
        brand = sys.intern(brand)
        self.brands.append(brand)
        self.regions.append(sys.intern(region))
        self.statuses.append(sys.intern(status))
        self.by_uscc[uscc] = i
        _multi_add(self.by_name, name if name_norm == name else name_norm, i)
        if brand:
            _multi_add(self.by_brand, brand, i)
            _multi_add(self.by_brand_region, (brand, self.regions[i]), i)
        self._grams = None

    def ref(self, i: int) -> RegRef:
        """Row `i` as a RegRef."""
        return RegRef(
            self.ids[i], self.usccs[i], self.names[i], self.brands[i], self.regions[i],
            self.statuses[i],
        )  # fmt: skip

    def with_name(self, name_norm: str) -> list[int]:
        """Rows registered under this normalized name."""
        return _multi_get(self.by_name, name_norm)

    def with_brand(self, brand: str) -> list[int]:
        """Rows with this brand core."""
        return _multi_get(self.by_brand, brand)

    def with_brand_in(self, brand: str, regions: Iterable[str]) -> list[int]:
        """Rows of `brand` registered in any of `regions`."""
        return [i for r in regions for i in _multi_get(self.by_brand_region, (brand, r))]

    def similar_brands(self, brand: str) -> list[str]:
        """Brands sharing at least one padded bigram with `brand` (the fuzzy blocking step)."""
        if self._grams is None:
            grams: dict[str, list[str]] = {}
            for b in self.by_brand:
                for g in _bigrams(b):
                    grams.setdefault(g, []).append(b)
            self._grams = grams
        found: set[str] = set()
        for g in _bigrams(brand):
            found.update(self._grams.get(g, ()))
        return list(found)


def _multi_add(d: dict[Any, int | list[int]], key: Any, i: int) -> None:
    cur = d.get(key)
    if cur is None:
        d[key] = i
    elif isinstance(cur, list):
        cur.append(i)
    else:
        d[key] = [cur, i]


def _multi_get(d: dict[Any, int | list[int]], key: Any) -> list[int]:
    cur = d.get(key)
    if cur is None:
        return []
    return cur if isinstance(cur, list) else [cur]


def _bigrams(brand: str) -> set[str]:
    """Padded bigrams: "鑫诚" → {^鑫, 鑫诚, 诚$}, so 鑫诚 and 鑫城 share ^鑫 and block together."""
    padded = f"^{brand}$"
    return {padded[i : i + 2] for i in range(len(padded) - 1)}
