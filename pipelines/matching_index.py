"""The in-memory registry index name matching blocks on: USCC, exact name, brand core, bigrams.

Built from plain registration tuples, so analysis, storage and the benchmark share one index;
the database loader lives in storage/matching.py. Every lookup a query makes is a dict access
or a walk over one brand's rows, so a query costs the same against 10,000 registrations as
against millions; answers derived from a whole brand (where it is registered, which of its
rows fits an industry) are memoized on the index until it changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
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
        # Normalized names as imported (the name object itself when normalizing left it as is).
        self.norms: list[str] = []
        self.brands: list[str] = []
        self.regions: list[str] = []
        self.statuses: list[str] = []
        self.by_uscc: dict[str, int] = {}
        self.by_name: dict[str, int | list[int]] = {}
        self.by_brand: dict[str, int | list[int]] = {}
        # (brand, region) → rows: region evidence narrows a common brand in O(1).
        self.by_brand_region: dict[tuple[str, str], int | list[int]] = {}
        self._grams: _GramIndex | None = None
        # Answers computed from whole brands, keyed by their question; emptied by `add`.
        self.memo: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, str, str, str, str, str]]) -> Self:
        """Build from (id, uscc, name, name_norm, brand_core, region, status) tuples."""
        index = cls()
        index.add_many(rows)
        return index

    def add_many(self, rows: Iterable[Sequence[Any]]) -> None:
        """Add (id, uscc, name, name_norm, brand_core, region, status) rows: `add` with its
        lookups bound once, since loading a whole registry is a million of them."""
        ids, usccs, names, norms = self.ids, self.usccs, self.names, self.norms
        brands, regions, statuses = self.brands, self.regions, self.statuses
        by_uscc, by_name = self.by_uscc, self.by_name
        by_brand, by_brand_region = self.by_brand, self.by_brand_region
        intern = sys.intern
        i = len(ids)
        for rid, uscc, name, name_norm, brand, region, status in rows:
            norm = name if name_norm == name else name_norm
            brand, region = intern(brand), intern(region)
            ids.append(rid)
            usccs.append(uscc)
            names.append(name)
            norms.append(norm)
            brands.append(brand)
            regions.append(region)
            statuses.append(intern(status))
            by_uscc[uscc] = i
            _multi_add(by_name, norm, i)
            if brand:
                _multi_add(by_brand, brand, i)
                _multi_add(by_brand_region, (brand, region), i)
            i += 1
        self._grams = None
        if self.memo:
            self.memo.clear()

    def add(
        self, rid: int, uscc: str, name: str, name_norm: str, brand: str, region: str, status: str
    ) -> None:
        """Add one registration (brand cores and regions are interned: they repeat a lot)."""
        self.add_many([(rid, uscc, name, name_norm, brand, region, status)])

    def ref(self, i: int) -> RegRef:
        """Row `i` as a RegRef."""
        return RegRef(
            self.ids[i], self.usccs[i], self.names[i], self.brands[i], self.regions[i],
            self.statuses[i],
        )  # fmt: skip

    def candidate(self, i: int, score: float | None = None) -> dict[str, Any]:
        """Row `i` as a candidate row, as `ref(i).as_candidate(score)` without the RegRef."""
        d: dict[str, Any] = {
            "registration_id": self.ids[i],
            "uscc": self.usccs[i],
            "name": self.names[i],
            "region": self.regions[i],
            "status": self.statuses[i],
        }
        if score is not None:
            d["score"] = round(score, 1)
        return d

    def with_name(self, name_norm: str) -> list[int]:
        """Rows registered under this normalized name."""
        return _multi_get(self.by_name, name_norm)

    def with_brand(self, brand: str) -> list[int]:
        """Rows with this brand core."""
        return _multi_get(self.by_brand, brand)

    def with_brand_in(self, brand: str, regions: Iterable[str]) -> list[int]:
        """Rows of `brand` registered in any of `regions`."""
        get = self.by_brand_region.get
        out: list[int] = []
        for r in regions:
            cur = get((brand, r))
            if cur is None:
                continue
            if isinstance(cur, list):
                out += cur
            else:
                out.append(cur)
        return out

    def similar_brands(self, brand: str) -> list[str]:
        """Brands sharing at least one padded bigram with `brand` (the fuzzy blocking step),
        sorted: the fuzzy step keeps the best few, and equal scores then tie the same way in
        every process (set order would depend on the string hash seed)."""
        if self._grams is None:
            self._grams = _GramIndex(self.by_brand)
        return self._grams.brands_sharing(_bigrams(brand))


class _GramIndex:
    """Padded bigram → positions, in the sorted brand list, of the brands having it: the
    union of a query's few bigrams is a set of small ints, sorted back into brand order."""

    def __init__(self, brands: Iterable[str]) -> None:
        self.brands = sorted(brands)
        self.grams: dict[str, list[int]] = {}
        for k, b in enumerate(self.brands):
            for g in _bigrams(b):
                self.grams.setdefault(g, []).append(k)

    def brands_sharing(self, grams: Iterable[str]) -> list[str]:
        """Brands having any of `grams`, in sorted order."""
        found = [ks for g in grams if (ks := self.grams.get(g)) is not None]
        if not found:
            return []
        positions = found[0] if len(found) == 1 else sorted(set().union(*found))
        if len(positions) == 1:
            return [self.brands[positions[0]]]
        return list(itemgetter(*positions)(self.brands))


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
